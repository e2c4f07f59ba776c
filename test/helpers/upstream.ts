/**
 * Real upstream servers on loopback for data-plane tests. Each answers with
 * JSON describing what it received; `/delay/<ms>` waits first,
 * `/bytes/<n>` streams n bytes, and a POST to `/sink` counts the body.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, RequestListener, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { makeSelfSigned } from '../harness/etcd-cluster.js';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface TestUpstream {
  name: string;
  port: number;
  node: string;
  seen: Seen[];
  /** Requests whose client (the gateway) went away before sending the whole body. */
  aborted(): number;
  /** Requests received and not yet closed. */
  open(): number;
  close(): Promise<void>;
}

export async function startUpstream(name: string): Promise<TestUpstream> {
  const seen: Seen[] = [];
  let aborted = 0;
  let open = 0;
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    open++;
    res.once('close', () => open--);
    req.once('close', () => {
      if (!req.complete) {
        aborted++;
      }
    });
    const url = req.url ?? '/';
    const delay = /^\/delay\/(\d+)/.exec(url);
    const bytes = /^\/bytes\/(\d+)/.exec(url);

    if (bytes) {
      streamBytes(res, Number(bytes[1]));
      return;
    }
    if (url.startsWith('/sink')) {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        hash.update(c);
      });
      req.on('end', () => json(res, { name, size, sha256: hash.digest('hex') }));
      return;
    }
    const answer = () =>
      json(res, {
        name,
        method: req.method,
        url,
        origin: req.socket.remoteAddress,
        headers: req.headers,
      });
    req.resume();
    if (delay) {
      setTimeout(answer, Number(delay[1]));
    } else {
      answer();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    name,
    port,
    node: `127.0.0.1:${port}`,
    seen,
    aborted: () => aborted,
    open: () => open,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, body: object): void {
  const payload = JSON.stringify(body);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'x-upstream-drop': 'hop',
    connection: 'keep-alive, x-upstream-drop',
  });
  res.end(payload);
}

function streamBytes(res: ServerResponse, total: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = total;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** A loopback port with nothing listening: connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An upstream that accepts any upgrade with 101 and then echoes every byte back. */
export async function startUpgradeEcho(): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('upgrade required');
  });
  server.on('upgrade', (req, socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    name: 'echo',
    port,
    node: `127.0.0.1:${port}`,
    seen,
    aborted: () => 0,
    open: () => 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** An https server on loopback with a self-signed certificate for localhost that openssl makes for it. */
export async function startTlsServer(
  handler: RequestListener,
): Promise<{ node: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  try {
    makeSelfSigned('localhost', key, cert);
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return {
      node: `127.0.0.1:${port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
