/**
 * Starts an Admin API on a free loopback port over a given store, with
 * request helpers and the log lines it wrote.
 */
import { PassThrough } from 'node:stream';

import got from 'got';
import type { Method } from 'got';

import { createAdminApp } from '../../control-plane/app.js';
import type { AdminKey } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { listen } from '../../shared/listen.js';
import type { Keyring } from '../../shared/secrets.js';
import type { ConfigStore } from '../../shared/store/types.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const VIEWER_KEY = 'test-viewer-key-0123456789';

export interface TestAdmin {
  url: string;
  logLines(): Record<string, unknown>[];
  request(
    method: Method,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON under test
  text: string;
}

export interface AdminOptions {
  keys?: AdminKey[];
  allow?: string[];
  maxBodyBytes?: number;
  keyring?: Keyring;
}

export async function startAdmin(
  store: ConfigStore,
  options: AdminOptions = {},
): Promise<TestAdmin> {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));

  const app = createAdminApp({
    store,
    logger: createLogger({ level: 'debug', stream }),
    keys: options.keys ?? [
      { name: 'test-admin', key: ADMIN_KEY, role: 'admin' },
      { name: 'test-viewer', key: VIEWER_KEY, role: 'viewer' },
    ],
    allow: options.allow ?? ['127.0.0.0/8', '::1/128'],
    maxBodyBytes: options.maxBodyBytes ?? 1_572_864,
    keyring: options.keyring,
  });
  const server = await listen(app.callback(), { host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    url,
    logLines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    request: (method, path, body, headers) => send(url, method, path, body, headers),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function send(
  url: string,
  method: Method,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await got(url + path, {
    method,
    headers: { 'x-api-key': ADMIN_KEY, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    throwHttpErrors: false,
    retry: { limit: 0 },
    timeout: { request: 15_000 },
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, text: res.body };
}
