/**
 * Everything one proxied request carries through the plugin phases: the
 * client request, the route it matched, what will be sent upstream, and the
 * consumer once an auth plugin has identified one.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

import type { ResolvedRoute, Stored } from './state.js';
import type { ConsumerValue } from './types.js';

export class RequestContext {
  readonly startedAt = performance.now();
  /** The socket's byte count when this request began (sockets carry many requests). */
  readonly bytesAtStart: number;
  /** Canonical path, also forwarded upstream unless a plugin rewrites it. */
  upstreamPath: string;
  /** Raw query string without `?`. */
  upstreamQuery: string;
  /** Headers for the upstream request; plugins may change them. */
  readonly upstreamHeaders: OutgoingHttpHeaders;
  consumer?: Stored<ConsumerValue>;
  /** Plugins to run, highest priority first; replaced when a consumer is identified. */
  plugins: [string, Record<string, unknown>][];
  upstreamAddr?: string;
  status = 0;
  /** Set when a plugin or the gateway answered without proxying. */
  responded = false;
  /** Per-request values plugins share, such as a verified token's claims. */
  readonly vars = new Map<string, unknown>();
  #query?: URLSearchParams;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly path: string,
    query: string,
    readonly clientIp: string,
    readonly resolved: ResolvedRoute,
    upstreamHeaders: OutgoingHttpHeaders,
  ) {
    this.bytesAtStart = req.socket.bytesWritten;
    this.upstreamPath = path;
    this.upstreamQuery = query;
    this.upstreamHeaders = upstreamHeaders;
    this.plugins = resolved.plugins;
  }

  get routeId(): string {
    return this.resolved.route.id;
  }

  /** Query arguments, parsed once on first use. */
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.upstreamQuery);
    return this.#query;
  }

  /** Answers the client directly; later phases and the proxy are skipped. */
  respond(status: number, body: string | object, headers: Record<string, string> = {}): void {
    if (this.responded || this.res.headersSent) {
      return;
    }
    const isText = typeof body === 'string';
    const payload = isText ? body : JSON.stringify(body);
    this.responded = true;
    this.status = status;
    this.res.writeHead(status, {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
      'content-length': Buffer.byteLength(payload),
      ...headers,
    });
    this.res.end(payload);
  }
}
