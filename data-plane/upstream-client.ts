/**
 * Keep-alive connection pools to upstream nodes, on undici.
 *
 * One undici Pool per node, TLS name and connect timeout; a pool that no
 * request has used for a whole sweep interval is closed (its requests in
 * flight finish first), so nodes that left every upstream do not keep
 * pools forever.
 */
import type { IncomingHttpHeaders } from 'node:http';

import { buildConnector, Pool } from 'undici';

import type { UpstreamNode } from './balancer/index.js';

/** How often pools are swept, in milliseconds: one unused since the last sweep is closed. */
const SWEEP_INTERVAL_MS = 60_000;

export interface PoolTarget {
  scheme: 'http' | 'https';
  node: UpstreamNode;
  /** The TLS server name to send; '' sends none. Ignored for http. */
  servername: string;
  connectTimeoutMs: number;
}

export interface UpstreamPoolsOptions {
  /** Milliseconds between sweeps; a pool unused for a whole interval is closed. */
  sweepIntervalMs?: number;
}

interface Entry {
  pool: Pool;
  used: boolean;
}

export class UpstreamPools {
  readonly #pools = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: UpstreamPoolsOptions = {}) {
    const interval = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
    this.#sweeper = setInterval(() => this.#sweep(), interval).unref();
  }

  /** Pools currently open, for tests and metrics. */
  get size(): number {
    return this.#pools.size;
  }

  pool(target: PoolTarget): Pool {
    const { scheme, node, servername, connectTimeoutMs } = target;
    const key = `${scheme}://${node.id} ${servername} ${connectTimeoutMs}`;
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      entry = { pool: createPool(target), used: true };
      this.#pools.set(key, entry);
    }
    entry.used = true;
    return entry.pool;
  }

  destroy(): void {
    clearInterval(this.#sweeper);
    for (const { pool } of this.#pools.values()) {
      pool.destroy().catch(() => undefined);
    }
    this.#pools.clear();
  }

  #sweep(): void {
    for (const [key, entry] of this.#pools) {
      if (entry.used) {
        entry.used = false;
        continue;
      }
      this.#pools.delete(key);
      entry.pool.close().catch(() => undefined);
    }
  }
}

function createPool({ scheme, node, servername, connectTimeoutMs }: PoolTarget): Pool {
  // Limitation: upstream certificates are not verified, which is APISIX's
  // default too; a per-upstream `tls.verify` switch is not implemented yet.
  const connect = buildConnector({ timeout: connectTimeoutMs, rejectUnauthorized: false });
  return new Pool(`${scheme}://${node.id}`, {
    // The pool's TLS name is fixed, whatever name a request carries; without
    // `host`, undici would fall back to the node's own name.
    connect: (options, callback) =>
      connect({ ...options, servername: servername || undefined, host: undefined }, callback),
  });
}

/** Response fields of which Node keeps only the first copy; the rest are joined. */
const SINGLE_VALUED = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** Raw header pairs as node:http would present them: lower-case names, duplicates merged. */
export function headersFromRaw(raw: readonly Buffer[]): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[i + 1] as Buffer).toString('latin1');
    const prior = headers[name];
    if (prior === undefined) {
      headers[name] = name === 'set-cookie' ? [value] : value;
    } else if (Array.isArray(prior)) {
      prior.push(value);
    } else if (!SINGLE_VALUED.has(name)) {
      headers[name] = `${prior}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
  }
  return headers;
}
