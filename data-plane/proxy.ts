/**
 * Forwards a request to an upstream node and streams the answer back.
 *
 * Bodies stream both ways and are never buffered whole. Connections to
 * upstreams are pooled with keep-alive. A node that cannot be connected to
 * is retried on another node when the request is idempotent and its body has
 * not started to flow; anything later is answered 502 or 504 (see
 * upstreamErrorStatus) and never retried.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

import type { UpstreamNode } from './balancer/index.js';
import type { RequestContext } from './context.js';
import { endToEndHeaders } from './headers.js';
import { getRuntime } from './plugins/index.js';
import type { UpstreamRuntime } from './state.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** APISIX's default upstream timeouts, in seconds. */
export const DEFAULT_TIMEOUT = { connect: 60, send: 60, read: 60 };

export class UpstreamError extends Error {
  constructor(
    readonly kind: 'connect' | 'timeout' | 'reset' | 'no-node',
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/** The status a client sees for an upstream failure: one table, tested as a table. */
export function upstreamErrorStatus(err: unknown): number {
  if (err instanceof UpstreamError) {
    return err.kind === 'timeout' ? 504 : err.kind === 'no-node' ? 503 : 502;
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code?.startsWith('HPE_')) {
    // The upstream sent something that is not valid HTTP.
    return 502;
  }
  switch (code) {
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return 504;
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EPIPE':
      return 502;
    default:
      return 500;
  }
}

export class UpstreamPools {
  readonly http = new HttpAgent({ keepAlive: true, maxFreeSockets: 320, scheduling: 'lifo' });
  // Limitation: upstream certificates are not verified, which is APISIX's
  // default too; a per-upstream `tls.verify` switch is not implemented yet.
  readonly https = new HttpsAgent({
    keepAlive: true,
    maxFreeSockets: 320,
    scheduling: 'lifo',
    rejectUnauthorized: false,
  });

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/** Proxies `ctx` to a node of `upstream`, retrying other nodes on connection failure. */
export async function forward(
  ctx: RequestContext,
  upstream: UpstreamRuntime,
  pools: UpstreamPools,
  hashKey: string | undefined,
): Promise<void> {
  const { value, balancer } = upstream;
  const tried = new Set<string>();
  const retries = value.retries ?? Number.POSITIVE_INFINITY;
  const deadline = value.retry_timeout ? Date.now() + value.retry_timeout * 1000 : Infinity;
  const canRetry = IDEMPOTENT.has(ctx.req.method ?? '');

  for (let attempt = 0; ; attempt++) {
    const node = balancer.pick({ hashKey }, tried);
    if (!node) {
      throw new UpstreamError(tried.size === 0 ? 'no-node' : 'connect', 'no upstream node left');
    }
    tried.add(node.id);
    ctx.upstreamAddr = node.id;
    balancer.acquire(node);
    try {
      await attemptNode(ctx, upstream, node, pools);
      return;
    } catch (err) {
      const retryable =
        err instanceof UpstreamError && err.kind === 'connect' && canRetry && !ctx.res.headersSent;
      if (!retryable || attempt >= retries || Date.now() >= deadline) {
        throw err;
      }
    } finally {
      balancer.release(node);
    }
  }
}

function attemptNode(
  ctx: RequestContext,
  upstream: UpstreamRuntime,
  node: UpstreamNode,
  pools: UpstreamPools,
): Promise<void> {
  const { value } = upstream;
  const timeout = { ...DEFAULT_TIMEOUT, ...ctx.resolved.route.value.timeout, ...value.timeout };
  const https = value.scheme === 'https';
  const headers: OutgoingHttpHeaders = {
    ...ctx.upstreamHeaders,
    host: upstreamHost(ctx, value, node),
  };
  const path =
    ctx.upstreamQuery === '' ? ctx.upstreamPath : `${ctx.upstreamPath}?${ctx.upstreamQuery}`;

  return new Promise((resolve, reject) => {
    const proxyReq = (https ? httpsRequest : httpRequest)({
      host: node.host,
      port: node.port,
      method: ctx.req.method,
      path,
      headers,
      agent: https ? pools.https : pools.http,
      servername: https ? serverName(value.upstream_host ?? node.host) : undefined,
    });
    let connected = false;
    const fail = (err: Error) => {
      proxyReq.destroy();
      reject(err);
    };

    const connectTimer = setTimeout(
      () => fail(new UpstreamError('connect', `connect timeout to ${node.id}`)),
      timeout.connect * 1000,
    );
    proxyReq.on('socket', (socket) => {
      const onConnected = () => {
        clearTimeout(connectTimer);
        connected = true;
        proxyReq.setTimeout(Math.max(timeout.send, timeout.read) * 1000, () =>
          fail(new UpstreamError('timeout', `upstream ${node.id} timed out`)),
        );
        sendBody(ctx, proxyReq);
      };
      if (socket.connecting) {
        socket.once(https ? 'secureConnect' : 'connect', onConnected);
      } else {
        onConnected();
      }
    });
    proxyReq.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (err instanceof UpstreamError) {
        return;
      }
      reject(
        connected ? err : new UpstreamError('connect', `${err.code ?? err.message} ${node.id}`),
      );
    });
    proxyReq.on('response', (proxyRes) => {
      clearTimeout(connectTimer);
      relayResponse(ctx, proxyRes, resolve, reject);
    });
    proxyReq.on('upgrade', (_res, socket) => {
      // 101 to a request that asked for no upgrade: nothing sane to relay.
      socket.destroy();
      fail(new UpstreamError('reset', `upstream ${node.id} switched protocols unasked`));
    });
  });
}

/**
 * Streams the client body upstream once a connection stands, so failed
 * connects can retry. A client that asked to be told before sending its body
 * (`Expect: 100-continue`) is told only now, after routing and plugins.
 */
function sendBody(ctx: RequestContext, proxyReq: ClientRequest): void {
  if (ctx.req.readableEnded) {
    proxyReq.end();
    return;
  }
  if (/100-continue/i.test(ctx.req.headers.expect ?? '')) {
    ctx.res.writeContinue();
  }
  ctx.req.pipe(proxyReq);
  // A client that breaks off (or sends a malformed body) must not leave the
  // upstream request waiting for the rest until its read timeout.
  const abortIfIncomplete = () => {
    if (!ctx.req.complete) {
      ctx.status = CLIENT_CLOSED;
      proxyReq.destroy();
    }
  };
  if (ctx.req.destroyed) {
    abortIfIncomplete();
  } else {
    ctx.req.once('close', abortIfIncomplete);
  }
}

/** Logged when the client went away before its request was complete (nginx's 499). */
const CLIENT_CLOSED = 499;

function relayResponse(
  ctx: RequestContext,
  proxyRes: IncomingMessage,
  resolve: () => void,
  reject: (err: Error) => void,
): void {
  const headers = endToEndHeaders(proxyRes.headers);
  ctx.status = proxyRes.statusCode ?? 502;
  for (const [name, conf] of ctx.plugins) {
    getRuntime(name)?.headerFilter?.(ctx, conf, headers);
  }
  ctx.res.writeHead(ctx.status, headers);
  proxyRes.pipe(ctx.res);
  proxyRes.on('end', resolve);
  proxyRes.on('error', (err) => {
    ctx.res.destroy();
    reject(err);
  });
  ctx.res.on('close', () => {
    if (!proxyRes.complete) {
      proxyRes.destroy();
      resolve();
    }
  });
}

function upstreamHost(ctx: RequestContext, value: UpstreamRuntime['value'], node: UpstreamNode) {
  switch (value.pass_host) {
    case 'node':
      return node.id;
    case 'rewrite':
      return value.upstream_host ?? node.id;
    default:
      return ctx.req.headers.host ?? node.id;
  }
}

function serverName(host: string): string | undefined {
  // SNI carries host names only, never IP addresses.
  return /^[\d.]+$|:/.test(host) ? undefined : host.replace(/:\d+$/, '');
}
