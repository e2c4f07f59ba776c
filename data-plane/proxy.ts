/**
 * Forwards a request to an upstream node and streams the answer back.
 *
 * Bodies stream both ways and are never buffered whole. Connections to
 * upstreams are pooled with keep-alive. A node that cannot be connected to
 * is retried on another node when the request is idempotent and its body has
 * not started to flow; anything later is answered 502 or 504 (see
 * upstreamErrorStatus) and never retried.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

import type { Dispatcher } from 'undici';

import type { UpstreamNode } from './balancer/index.js';
import type { RequestContext } from './context.js';
import { endToEndHeaders } from './headers.js';
import { getRuntime } from './plugins/index.js';
import type { UpstreamRuntime } from './state.js';
import { headersFromRaw } from './upstream-client.js';
import type { UpstreamPools } from './upstream-client.js';

export { UpstreamPools } from './upstream-client.js';

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
  const scheme = value.scheme ?? 'http';
  const host = upstreamHost(ctx, value, node);
  const servername = scheme === 'https' ? serverName(value.upstream_host ?? node.host, host) : '';
  const pool = pools.pool({ scheme, node, servername, connectTimeoutMs: timeout.connect * 1000 });
  // Once connected, the exchange may stall no longer than this between two
  // writes or two reads.
  const stallMs = Math.max(timeout.send, timeout.read) * 1000;
  const body = requestBody(ctx.req);
  const options: Dispatcher.DispatchOptions & { servername: string } = {
    // undici's type lists the common methods only; it sends any valid token.
    method: ctx.req.method as Dispatcher.HttpMethod,
    path: ctx.upstreamQuery === '' ? ctx.upstreamPath : `${ctx.upstreamPath}?${ctx.upstreamQuery}`,
    headers: requestHeaders(ctx.upstreamHeaders, host),
    body,
    headersTimeout: stallMs,
    bodyTimeout: stallMs,
    // One name per pool: undici reconnects when a request's TLS name differs
    // from its connection's. The pool's connector sends the real one.
    servername: servername || node.host,
  };

  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => (err ? reject(err) : resolve());
    pool.dispatch(options, new Exchange(ctx, node, body !== null, settle));
  });
}

/** Logged when the client went away before its request was complete (nginx's 499). */
const CLIENT_CLOSED = 499;

/**
 * One request to one node, as undici's dispatch handler. The client body
 * streams up only once a connection stands, so failed connects can retry; a
 * client that asked to be told before sending its body (`Expect:
 * 100-continue`) is told only then, after routing and plugins. The answer
 * streams down as it comes, the upstream's reading paused while the client is
 * slow to take it.
 */
class Exchange implements Dispatcher.DispatchHandlers {
  readonly #ctx: RequestContext;
  readonly #node: UpstreamNode;
  readonly #hasBody: boolean;
  readonly #settle: (err?: Error) => void;
  #abort: ((err?: Error) => void) | undefined;
  /** undici's resume of a paused read; dropped once done, since the socket moves on. */
  #resume: (() => void) | undefined;
  #connected = false;
  #done = false;

  constructor(
    ctx: RequestContext,
    node: UpstreamNode,
    hasBody: boolean,
    settle: (err?: Error) => void,
  ) {
    this.#ctx = ctx;
    this.#node = node;
    this.#hasBody = hasBody;
    this.#settle = settle;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#connected) {
      return;
    }
    this.#connected = true;
    if (this.#clientGone()) {
      this.#leave();
      return;
    }
    const { req, res } = this.#ctx;
    if (this.#hasBody && /100-continue/i.test(req.headers.expect ?? '')) {
      res.writeContinue();
    }
    // A client that breaks off (or sends a malformed body) must not leave the
    // upstream request waiting for the rest until its timeout.
    req.once('close', this.#onClientClose);
    res.once('close', this.#onClientClose);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.#done) {
      return false;
    }
    if (statusCode < 200) {
      // Informational answers (103 Early Hints) are not relayed.
      // Limitation: undici fails on a `100 Continue` nobody asked for (502);
      // the upstream is never sent `Expect`, so only a broken one sends it.
      return true;
    }
    const ctx = this.#ctx;
    const headers = endToEndHeaders(headersFromRaw(rawHeaders));
    ctx.status = statusCode;
    for (const [name, conf] of ctx.plugins) {
      getRuntime(name)?.headerFilter?.(ctx, conf, headers);
    }
    ctx.res.writeHead(statusCode, headers);
    this.#resume = resume;
    ctx.res.on('drain', this.#onDrain);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.#ctx.res.write(chunk);
  }

  onComplete(): void {
    if (this.#finish()) {
      this.#ctx.res.end();
      this.#settle();
    }
  }

  onError(err: Error): void {
    if (this.#clientGone()) {
      this.#leave();
    }
    if (!this.#finish()) {
      return;
    }
    if (this.#ctx.res.headersSent) {
      this.#ctx.res.destroy();
    }
    this.#settle(upstreamFailure(err, this.#node, this.#connected));
  }

  #clientGone(): boolean {
    const { req, res } = this.#ctx;
    return (req.destroyed && !req.complete) || (res.destroyed && !res.writableFinished);
  }

  /** Marks the exchange done; false when it already was. */
  #finish(): boolean {
    if (this.#done) {
      return false;
    }
    this.#done = true;
    this.#resume = undefined;
    return true;
  }

  readonly #onDrain = (): void => this.#resume?.();

  readonly #onClientClose = (): void => {
    if (this.#clientGone()) {
      this.#leave();
    }
  };

  /** Ends the exchange without an answer: the client has gone, nobody is left to answer. */
  #leave(): void {
    if (!this.#finish()) {
      return;
    }
    const { req, res } = this.#ctx;
    if (!req.complete || !res.headersSent) {
      this.#ctx.status = CLIENT_CLOSED;
    }
    this.#abort?.();
    this.#settle();
  }
}

/** Turns undici's failures into the errors upstreamErrorStatus knows. */
function upstreamFailure(err: NodeJS.ErrnoException, node: UpstreamNode, connected: boolean) {
  switch (err.code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamError('connect', `connect timeout to ${node.id}`);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamError('timeout', `upstream ${node.id} timed out`);
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      // The request we built, not the upstream, is at fault.
      return err;
  }
  if (!connected) {
    return new UpstreamError('connect', `${err.code ?? err.message} ${node.id}`);
  }
  if (err.code?.startsWith('UND_ERR_')) {
    // Closed early, a 101 nobody asked for, a body longer or shorter than said.
    return new UpstreamError('reset', `upstream ${node.id}: ${err.message}`);
  }
  return err;
}

/** The client body to stream up, or null when the request carries none. */
function requestBody(req: IncomingMessage): IncomingMessage | null {
  const length = req.headers['content-length'];
  const framed =
    (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
  return framed && !req.readableEnded ? req : null;
}

function requestHeaders(headers: OutgoingHttpHeaders, host: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    // The proxy answers `Expect` itself; undici refuses to send it.
    if (value !== undefined && lower !== 'expect' && lower !== 'host') {
      out[lower] = typeof value === 'number' ? String(value) : value;
    }
  }
  out.host = host;
  return out;
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

/**
 * The TLS server name: the configured host's name, else the name in the Host
 * header sent, as node:https chose it; '' when both are addresses, since SNI
 * carries host names only.
 */
function serverName(configured: string, hostHeader: string): string {
  if (!/^[\d.]+$|:/.test(configured)) {
    return configured;
  }
  let name = hostHeader.split(':', 1)[0] ?? hostHeader;
  if (hostHeader.startsWith('[')) {
    const close = hostHeader.indexOf(']');
    name = close < 0 ? hostHeader : hostHeader.slice(1, close);
  }
  return isIP(name) === 0 ? name : '';
}
