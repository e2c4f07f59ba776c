/**
 * The access log: one line per request, subscribed to the gateway's
 * `tollgate:request:end` channel so the request path only publishes.
 *
 * Lines carry the path without its query string, and never a header value
 * that could hold a credential (Authorization, cookies, tokens).
 *
 * Lines are formatted by hand and gathered for one turn of the event loop,
 * then written with a single write() call: a logging library formatting and
 * writing each line cost a third of jwt-auth throughput and tens of
 * milliseconds of p99 (docs/benchmarks.md). When the destination falls more
 * than `MAX_PENDING_BYTES` behind, lines are dropped and counted rather than
 * kept in memory, and the count is logged once writing catches up.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { RequestEndEvent } from './gateway.js';

/** Bytes handed to the destination and not yet written, past which lines are dropped. */
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;

export interface AccessLog {
  /** Writes what is gathered and closes the file (stdout stays open). */
  close(): Promise<void>;
}

export function startAccessLog(
  options: Config['accessLog'],
  role: string,
  logger: Logger,
): AccessLog | undefined {
  if (!options.enabled) {
    return undefined;
  }
  const toFile = options.path !== '';
  const stream: Writable = toFile
    ? createWriteStream(options.path, { flags: 'a' })
    : process.stdout;
  const writer = new LineWriter(stream, logger, options.path || 'stdout');
  const format =
    options.format === 'json'
      ? (line: Line) =>
          JSON.stringify({
            timestamp: line.time,
            level: 'http',
            message: 'access',
            role,
            ...line.fields,
          })
      : combined;

  const onEvent = (message: unknown) => writer.write(format(describe(message as RequestEndEvent)));
  subscribe('tollgate:request:end', onEvent);
  return {
    close: async () => {
      unsubscribe('tollgate:request:end', onEvent);
      await writer.close(toFile);
    },
  };
}

/** Gathers lines for one turn of the event loop and writes them together. */
export class LineWriter {
  readonly #stream: Writable;
  readonly #logger: Logger;
  readonly #target: string;
  #lines: string[] = [];
  #scheduled = false;
  #dropped = 0;
  #failed = false;

  constructor(stream: Writable, logger: Logger, target: string) {
    this.#stream = stream;
    this.#logger = logger;
    this.#target = target;
    stream.on('error', (err) => {
      if (!this.#failed) {
        this.#failed = true;
        logger.error('access log cannot be written; lines are dropped', {
          target,
          error: err.message,
        });
      }
    });
  }

  write(line: string): void {
    if (this.#failed || this.#stream.writableLength > MAX_PENDING_BYTES) {
      this.#dropped++;
      return;
    }
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#lines.length > 0 && !this.#failed) {
      this.#stream.write(`${this.#lines.join('\n')}\n`);
    }
    this.#lines = [];
    if (this.#dropped > 0 && !this.#failed && this.#stream.writableLength < MAX_PENDING_BYTES / 2) {
      this.#logger.warn('access log fell behind; lines were dropped', {
        target: this.#target,
        dropped: this.#dropped,
      });
      this.#dropped = 0;
    }
  };

  async close(end: boolean): Promise<void> {
    this.#flush();
    if (!end || this.#failed) {
      return;
    }
    await new Promise<void>((resolve) => this.#stream.end(resolve));
  }
}

interface Line {
  time: string;
  fields: {
    client_ip: string;
    method: string;
    path: string;
    http_version: string;
    status: number;
    bytes: number;
    latency_ms: number;
    route_id: string | null;
    upstream_addr: string | null;
    consumer: string | null;
    user_agent: string | null;
  };
}

function describe(e: RequestEndEvent): Line {
  return {
    time: new Date().toISOString(),
    fields: {
      client_ip: e.clientIp,
      method: e.req.method ?? '',
      path: e.path,
      http_version: e.req.httpVersion,
      status: e.status,
      bytes: e.bytesSent,
      latency_ms: Math.round(e.durationMs * 100) / 100,
      route_id: e.routeId ?? null,
      upstream_addr: e.upstreamAddr ?? null,
      consumer: e.consumer ?? null,
      user_agent: e.req.headers['user-agent'] ?? null,
    },
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `04/Dec/2026:19:27:12 +0000`, the time as Apache's common log format writes it, in UTC. */
function clfTime(iso: string): string {
  // iso is `2026-12-04T19:27:12.757Z`.
  const month = MONTHS[Number(iso.slice(5, 7)) - 1] ?? 'Jan';
  return `${iso.slice(8, 10)}/${month}/${iso.slice(0, 4)}:${iso.slice(11, 19)} +0000`;
}

/**
 * Apache's combined format, then the latency in milliseconds, the route id
 * and the upstream address; the referer is not logged, as it may carry tokens.
 */
function combined({ time, fields: l }: Line): string {
  const ua = JSON.stringify(l.user_agent ?? '-');
  return (
    `${l.client_ip} - ${l.consumer ?? '-'} [${clfTime(time)}] "${l.method} ${l.path} HTTP/${l.http_version}" ` +
    `${l.status} ${l.bytes} "-" ${ua} ${l.latency_ms} ${l.route_id ?? '-'} ${l.upstream_addr ?? '-'}`
  );
}
