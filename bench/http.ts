/**
 * A small HTTP client over keep-alive connections for the bench's own calls
 * (Admin API writes, readiness and propagation polls), with a bounded wait.
 */
import { Agent, request as httpRequest } from 'node:http';

export interface Reply {
  status: number;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  agent?: Agent;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

export function newAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 8 });
}

export function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  const { method = 'GET', headers = {}, body, agent = keepAlive } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** True when `url` answers 200. */
export async function answers200(url: string): Promise<boolean> {
  const reply = await request(url, { timeoutMs: 2_000 });
  return reply.status === 200;
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
