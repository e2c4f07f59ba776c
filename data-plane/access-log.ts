/**
 * The access log: one line per request, subscribed to the gateway's
 * `tollgate:request:end` channel so the request path only publishes.
 *
 * Lines carry the path without its query string, and never a header value
 * that could hold a credential (Authorization, cookies, tokens).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

import winston from 'winston';

import type { Config } from '../shared/config.js';
import type { RequestEndEvent } from './gateway.js';

export interface AccessLog {
  close(): void;
}

export function startAccessLog(options: Config['accessLog'], role: string): AccessLog | undefined {
  if (!options.enabled) {
    return undefined;
  }
  const transport =
    options.path === ''
      ? new winston.transports.Console()
      : new winston.transports.File({ filename: options.path });
  const logger = winston.createLogger({
    level: 'http',
    format:
      options.format === 'json'
        ? winston.format.combine(winston.format.timestamp(), winston.format.json())
        : winston.format.printf((info) => String(info.message)),
    transports: [transport],
  });

  const onEvent = (message: unknown) => {
    const line = describe(message as RequestEndEvent);
    if (options.format === 'json') {
      logger.http('access', { role, ...line });
    } else {
      logger.http(combined(line));
    }
  };
  subscribe('tollgate:request:end', onEvent);
  return {
    close: () => {
      unsubscribe('tollgate:request:end', onEvent);
      logger.close();
    },
  };
}

interface Line {
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
}

function describe(e: RequestEndEvent): Line {
  return {
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
  };
}

/** Apache's combined format; the referer is not logged, as it may carry tokens. */
function combined(l: Line): string {
  const time = new Date().toISOString();
  const ua = JSON.stringify(l.user_agent ?? '-');
  return (
    `${l.client_ip} - ${l.consumer ?? '-'} [${time}] "${l.method} ${l.path} HTTP/${l.http_version}" ` +
    `${l.status} ${l.bytes} "-" ${ua} ${l.latency_ms} ${l.route_id ?? '-'} ${l.upstream_addr ?? '-'}`
  );
}
