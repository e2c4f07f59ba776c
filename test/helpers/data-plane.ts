/**
 * Starts data-plane nodes in this process over a real store, on free
 * loopback ports, and sends requests through them.
 */
import { PassThrough } from 'node:stream';

import got from 'got';
import type { Method } from 'got';

import { startDataPlane } from '../../data-plane/server.js';
import type { DataPlane } from '../../data-plane/server.js';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { Keyring } from '../../shared/secrets.js';
import type { ConfigStore } from '../../shared/store/types.js';

export interface TestNode extends DataPlane {
  url: string;
  statusUrl: string;
  logLines(): Record<string, unknown>[];
  request(path: string, options?: RequestOptions): Promise<NodeReply>;
}

export interface RequestOptions {
  method?: Method;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface NodeReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON under test
  text: string;
}

export async function startNode(
  store: ConfigStore,
  env: Record<string, string> = {},
  keyring: Keyring = new Keyring([]),
): Promise<TestNode> {
  const config = loadConfig({
    file: '/dev/null',
    env: {
      TOLLGATE_GATEWAY_LISTEN: '127.0.0.1:0',
      TOLLGATE_STATUS_LISTEN: '127.0.0.1:0',
      TOLLGATE_ACCESS_LOG: 'false',
      ...env,
    },
  });
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  const logger = createLogger({ level: 'debug', stream });

  const plane = await startDataPlane(config, store, logger, { statusListener: true, keyring });
  const url = `http://127.0.0.1:${plane.port}`;
  return {
    ...plane,
    url,
    statusUrl: `http://127.0.0.1:${plane.statusPort ?? 0}`,
    logLines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    request: (path, options = {}) => send(url + path, options),
  };
}

export async function send(url: string, options: RequestOptions = {}): Promise<NodeReply> {
  const res = await got(url, {
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    throwHttpErrors: false,
    retry: { limit: 0 },
    timeout: { request: 20_000 },
    agent: {},
  });
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body, text: res.body };
}

/** Polls until `check` passes or the time is up; returns how long it took. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) {
      return Date.now() - start;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
