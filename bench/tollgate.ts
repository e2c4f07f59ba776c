/**
 * Tollgate processes for the bench, started from the built JS (dist/) with
 * every listener on a free loopback port, and the Admin API calls that
 * configure them.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { answers200, request } from './http.js';
import type { Reply } from './http.js';
import type { Child, Lab } from './lab.js';
import { freePorts, waitFor } from './lab.js';

const ENTRY = fileURLToPath(new URL('../dist/bin/tollgate.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export type Mode = 'all' | 'control-plane' | 'data-plane';

export interface EtcdTarget {
  endpoints: string[];
  prefix: string;
}

export interface TollgateOptions {
  mode: Mode;
  cpus?: string;
  /** Writes the access log to this file; off when unset. */
  accessLogPath?: string;
  etcd?: EtcdTarget;
  /** How long to wait for /readyz (large configs take a while). */
  readyTimeoutMs?: number;
}

export interface Tollgate {
  child: Child;
  gateway: string;
  status: string;
  admin: Admin;
  /** When the process was spawned (performance.now()). */
  startedAt: number;
}

export async function startTollgate(
  lab: Lab,
  name: string,
  options: TollgateOptions,
): Promise<Tollgate> {
  const [adminPort, gatewayPort, statusPort] = await freePorts(3);
  const key = randomBytes(16).toString('hex');
  const dataDir = join(lab.dir, name, 'data');
  mkdirSync(dataDir, { recursive: true });

  const env: NodeJS.ProcessEnv = {
    ...withoutTollgateSettings(process.env),
    TOLLGATE_ADMIN_KEY: key,
    TOLLGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    TOLLGATE_GATEWAY_LISTEN: `127.0.0.1:${gatewayPort}`,
    TOLLGATE_STATUS_LISTEN: `127.0.0.1:${statusPort}`,
    TOLLGATE_DATA_DIR: dataDir,
    TOLLGATE_WORKERS: '1',
    TOLLGATE_ACCESS_LOG: options.accessLogPath === undefined ? 'false' : 'true',
    TOLLGATE_ACCESS_LOG_PATH: options.accessLogPath ?? '',
    TOLLGATE_LOG_LEVEL: 'info',
  };
  if (options.etcd !== undefined) {
    env.TOLLGATE_ETCD_ENDPOINTS = options.etcd.endpoints.join(',');
    env.TOLLGATE_ETCD_PREFIX = options.etcd.prefix;
  }

  const startedAt = performance.now();
  const spawnOptions = { env, cpus: options.cpus ?? allCpus() };
  const child = lab.spawn(name, process.execPath, [ENTRY, options.mode], spawnOptions);
  const node: Tollgate = {
    child,
    gateway: `http://127.0.0.1:${gatewayPort}`,
    status: `http://127.0.0.1:${statusPort}`,
    admin: new Admin(`http://127.0.0.1:${adminPort}/apisix/admin`, key),
    startedAt,
  };

  const timeout = options.readyTimeoutMs ?? START_TIMEOUT_MS;
  const ready =
    options.mode === 'control-plane'
      ? () => node.admin.get('/routes').then((reply) => reply.status === 200)
      : () => answers200(`${node.status}/readyz`);
  await waitFor(`${name} to be ready`, ready, timeout, child);
  return node;
}

/**
 * Every core: the bench itself runs pinned to the load generator's core and
 * its children would inherit that, so unpinned servers say so explicitly.
 */
export function allCpus(): string {
  return `0-${cpus().length - 1}`;
}

function withoutTollgateSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('TOLLGATE_')));
}

export class Admin {
  readonly #base: string;
  readonly #key: string;

  constructor(base: string, key: string) {
    this.#base = base;
    this.#key = key;
  }

  get(path: string): Promise<Reply> {
    return request(this.#base + path, { headers: { 'x-api-key': this.#key } });
  }

  /** PUT a JSON body; fails unless the Admin API answers 200 or 201. */
  async put(path: string, body: object): Promise<void> {
    const reply = await request(this.#base + path, {
      method: 'PUT',
      headers: { 'x-api-key': this.#key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (reply.status !== 200 && reply.status !== 201) {
      throw new Error(`PUT ${path} answered ${reply.status}: ${reply.body.slice(0, 300)}`);
    }
  }
}

export interface StatusDocument {
  ready: boolean;
  revision: number;
  counts: Record<string, number>;
}

export async function readStatus(node: Tollgate): Promise<StatusDocument> {
  const reply = await request(`${node.status}/status`);
  return JSON.parse(reply.body) as StatusDocument;
}

/** Waits until the node's config holds `count` objects of `kind`. */
export async function waitForCount(node: Tollgate, kind: string, count: number, timeoutMs: number) {
  const check = async () => (await readStatus(node)).counts[kind] === count;
  await waitFor(`${node.child.name} to hold ${count} ${kind}`, check, timeoutMs, node.child);
}

export function upstreamOf(port: number): object {
  return { type: 'roundrobin', nodes: { [`127.0.0.1:${port}`]: 1 } };
}

/** Route `/ip` to the upstream, with jwt-auth when `jwt` is set. */
export async function configureIpRoute(node: Tollgate, upstreamPort: number, jwt: boolean) {
  const plugins = jwt ? { 'jwt-auth': {} } : {};
  await node.admin.put('/routes/ip', { uri: '/ip', plugins, upstream: upstreamOf(upstreamPort) });
}

export const BENCH_CONSUMER_KEY = 'bench@example.com';

/** A consumer, the sign endpoint on /login, and a token from it for the Authorization header. */
export async function issueToken(node: Tollgate): Promise<string> {
  await node.admin.put('/routes/login', {
    uri: '/login',
    plugins: { 'public-api': { uri: '/apisix/plugin/jwt/sign' } },
  });
  await node.admin.put('/consumers', {
    username: 'bench',
    plugins: {
      'jwt-auth': { key: BENCH_CONSUMER_KEY, secret: randomBytes(24).toString('base64url') },
    },
  });

  let token = '';
  const signed = async () => {
    const reply = await request(`${node.gateway}/login?key=${BENCH_CONSUMER_KEY}`);
    token = reply.body.trim();
    return reply.status === 200;
  };
  await waitFor('a token from /login', signed, 10_000, node.child);
  return token;
}

/** Waits until GET `path` with `headers` answers the upstream's body. */
export async function waitForUpstreamAnswer(
  node: Tollgate,
  path: string,
  headers: Record<string, string> = {},
) {
  const check = async () => {
    const reply = await request(node.gateway + path, { headers });
    return reply.status === 200 && reply.body.includes('"origin"');
  };
  await waitFor(`${node.child.name} to answer ${path}`, check, 10_000, node.child);
}
