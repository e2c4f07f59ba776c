/**
 * The request path: normalise the target, match a route, run the plugin
 * phases, proxy, and publish one event per request for the access log.
 */
import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';

import type { Logger } from '../shared/logger.js';
import { inAddressList } from '../shared/net.js';
import type { Keyring } from '../shared/secrets.js';
import type { ConfigStore } from '../shared/store/types.js';
import { RequestContext } from './context.js';
import { clientInfo, endToEndHeaders, setForwardingHeaders } from './headers.js';
import { getRuntime } from './plugins/index.js';
import type { PhaseEnv } from './plugins/index.js';
import { forward, upstreamErrorStatus, UpstreamPools } from './proxy.js';
import { normalizeTarget } from './router/path.js';
import type { ResolvedRoute } from './state.js';
import type { ConfigSync } from './sync.js';
import { RequestVars } from './vars.js';
import { hasBody, proxyUpgrade, responseForUpgrade } from './websocket.js';

/** Published once per request that matched a route; subscribers log it. */
export const requestEnd = channel('tollgate:request:end');

export interface RequestEndEvent {
  req: IncomingMessage;
  path: string;
  clientIp: string;
  status: number;
  durationMs: number;
  bytesSent: number;
  routeId?: string;
  upstreamAddr?: string;
  consumer?: string;
}

interface Upgrade {
  socket: Duplex;
  head: Buffer;
}

export interface GatewayOptions {
  trustedProxies?: BlockList;
}

/** What plugins may use beyond the config: the store to write to and the keyring to seal with. */
export interface GatewayDeps {
  store: ConfigStore;
  keyring: Keyring;
  logger: Logger;
}

export class Gateway {
  readonly pools = new UpstreamPools();
  readonly #sync: ConfigSync;
  readonly #logger: Logger;
  readonly #store: ConfigStore;
  readonly #keyring: Keyring;
  readonly #trusted: BlockList | undefined;

  constructor(sync: ConfigSync, deps: GatewayDeps, options: GatewayOptions = {}) {
    this.#sync = sync;
    this.#logger = deps.logger;
    this.#store = deps.store;
    this.#keyring = deps.keyring;
    this.#trusted = options.trustedProxies;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handle(req, res).catch((err: unknown) => {
      this.#logger.error('failed to handle request', { error: err });
      if (!res.headersSent) {
        sendJson(res, 500, { error_msg: 'internal error' });
      } else {
        res.destroy();
      }
    });
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const res = responseForUpgrade(req, socket);
    this.#handle(req, res, { socket, head }).catch((err: unknown) => {
      this.#logger.error('failed to handle upgrade', { error: err });
      socket.destroy();
    });
  };

  async #handle(req: IncomingMessage, res: ServerResponse, upgrade?: Upgrade): Promise<void> {
    const startedAt = performance.now();
    const bytesAtStart = req.socket.bytesWritten;
    const target = normalizeTarget(req.url ?? '');
    const bad = 'error' in target ? target.error : checkFraming(req);
    if (bad !== undefined || 'error' in target) {
      const status = req.httpVersionMajor === 1 ? 400 : 505;
      sendJson(res, status, { error_msg: `bad request: ${bad ?? 'malformed'}` });
      const info = { path: '-', clientIp: req.socket.remoteAddress ?? '' };
      this.#publish(req, res, info, startedAt, bytesAtStart);
      return;
    }
    const state = this.#sync.state;
    const peer = req.socket.remoteAddress ?? '';
    const client = clientInfo(req.headers, peer, this.#trusted);
    const vars = new RequestVars(req, target.path, target.query, client.ip);

    const match = state.router.match({
      path: target.path,
      method: req.method ?? 'GET',
      host: (req.headers.host ?? '').replace(/\.(?=:\d+$|$)/, ''),
      remoteAddr: client.ip,
      getVar: (name) => vars.get(name),
    });
    const resolved = match ? state.resolve(match.value) : undefined;
    if (!resolved) {
      sendJson(res, 404, { error_msg: '404 Route Not Found' });
      this.#publish(req, res, { path: target.path, clientIp: client.ip }, startedAt, bytesAtStart);
      return;
    }

    const headers = this.#upstreamHeaders(req, peer, client);
    const ctx = new RequestContext(
      req,
      res,
      target.path,
      target.query,
      client.ip,
      resolved,
      headers,
    );
    try {
      if (upgrade && resolved.enableWebsocket) {
        await this.#serveUpgrade(ctx, upgrade);
      } else {
        await this.#serve(ctx, resolved, vars);
      }
    } finally {
      this.#publish(req, res, ctx, ctx.startedAt, ctx.bytesAtStart);
    }
  }

  async #serveUpgrade(ctx: RequestContext, upgrade: Upgrade): Promise<void> {
    if (hasBody(ctx)) {
      ctx.respond(400, { error_msg: 'an upgrade request may not carry a body' });
      return;
    }
    if (await this.#runPhases(ctx)) {
      proxyUpgrade(ctx, upgrade.socket, upgrade.head);
    }
  }

  /** Runs rewrite and access; false when a plugin answered (or failed) instead. */
  async #runPhases(ctx: RequestContext): Promise<boolean> {
    const env: PhaseEnv = {
      state: this.#sync.state,
      logger: this.#logger,
      store: this.#store,
      keyring: this.#keyring,
    };
    try {
      for (const phase of ['rewrite', 'access'] as const) {
        await runPhase(ctx, phase, env);
        if (ctx.responded) {
          return false;
        }
      }
      return true;
    } catch (err) {
      this.#logger.error('plugin failed', { route_id: ctx.routeId, error: err });
      ctx.respond(500, { error_msg: 'internal error' });
      return false;
    }
  }

  async #serve(ctx: RequestContext, resolved: ResolvedRoute, vars: RequestVars): Promise<void> {
    if (!(await this.#runPhases(ctx))) {
      return;
    }

    if (!resolved.upstream) {
      ctx.respond(503, { error_msg: 'missing upstream configuration in Route or Service' });
      return;
    }
    try {
      await forward(ctx, resolved.upstream, this.pools, hashKey(ctx, resolved, vars));
    } catch (err) {
      this.#answerUpstreamError(ctx, err);
    }
  }

  #answerUpstreamError(ctx: RequestContext, err: unknown): void {
    const status = upstreamErrorStatus(err);
    this.#logger.log(status >= 500 ? 'error' : 'warn', 'failed to proxy', {
      route_id: ctx.routeId,
      upstream: ctx.upstreamAddr,
      error: (err as Error).message,
    });
    if (ctx.res.headersSent) {
      ctx.res.destroy();
      return;
    }
    const messages: Record<number, string> = {
      502: 'bad gateway: the upstream could not be reached',
      503: 'service unavailable: no upstream node is available',
      504: 'gateway timeout: the upstream did not answer in time',
    };
    ctx.respond(status, { error_msg: messages[status] ?? 'internal error' });
  }

  #upstreamHeaders(req: IncomingMessage, peer: string, client: ReturnType<typeof clientInfo>) {
    const headers: OutgoingHttpHeaders = endToEndHeaders(req.headers);
    // Only an auth plugin may say who the consumer is.
    delete headers['x-consumer-username'];
    const trustedPeer = this.#trusted !== undefined && inAddressList(this.#trusted, peer);
    setForwardingHeaders(headers, req.headers, peer, client, trustedPeer);
    return headers;
  }

  #publish(
    req: IncomingMessage,
    res: ServerResponse,
    info: Pick<RequestContext, 'path' | 'clientIp'> & Partial<RequestContext>,
    startedAt: number,
    bytesAtStart: number,
  ): void {
    if (!requestEnd.hasSubscribers) {
      return;
    }
    const publish = () => {
      const event: RequestEndEvent = {
        req,
        path: info.path,
        clientIp: info.clientIp,
        status: info.status || res.statusCode,
        durationMs: performance.now() - startedAt,
        bytesSent: req.socket.bytesWritten - bytesAtStart,
        routeId: info.routeId,
        upstreamAddr: info.upstreamAddr,
        consumer: info.consumer?.id,
      };
      requestEnd.publish(event);
    };
    if (res.writableFinished || res.destroyed) {
      publish();
    } else {
      res.once('close', publish);
    }
  }
}

/**
 * What the HTTP parser lets through but a proxy must not: another HTTP
 * version than 1.x, HTTP/1.1 without Host, and more than one Host header
 * (which one would a backend believe?).
 */
function checkFraming(req: IncomingMessage): string | undefined {
  if (req.httpVersionMajor !== 1) {
    return `HTTP/${req.httpVersion} is not supported`;
  }
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.length === 4 && req.rawHeaders[i]?.toLowerCase() === 'host') {
      hosts++;
    }
  }
  if (hosts > 1) {
    return 'more than one Host header';
  }
  if (hosts === 0 && req.httpVersionMinor === 1) {
    return 'HTTP/1.1 request without Host';
  }
  return undefined;
}

async function runPhase(ctx: RequestContext, phase: 'rewrite' | 'access', env: PhaseEnv) {
  // The list can change mid-phase when an auth plugin identifies a consumer.
  for (let i = 0; i < ctx.plugins.length && !ctx.responded; i++) {
    const [name, conf] = ctx.plugins[i] ?? ['', {}];
    const fn = getRuntime(name)?.[phase];
    if (fn) {
      await fn(ctx, conf, env);
    }
  }
}

function hashKey(ctx: RequestContext, resolved: ResolvedRoute, vars: RequestVars) {
  const up = resolved.upstream?.value;
  if (up?.type !== 'chash') {
    return undefined;
  }
  switch (up.hash_on) {
    case 'consumer':
      return ctx.consumer?.id;
    case 'header':
      return vars.get(`http_${up.key ?? ''}`);
    case 'cookie':
      return vars.get(`cookie_${up.key ?? ''}`);
    default:
      return vars.get(up.key ?? 'remote_addr');
  }
}

export function sendJson(res: ServerResponse, status: number, body: object): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}
