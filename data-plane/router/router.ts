/**
 * The data plane's request router, in memory and without I/O.
 *
 * Routes are indexed by path in a segment tree (radix.ts); the routes that
 * share a path are indexed by host (route-set.ts). A change touches only the
 * changed route's uris, and a lookup walks only the request's segments, so
 * 100,000 routes can change twice a second while matching stays flat.
 *
 * Order of preference: exact paths, then `:param` paths, then `*` prefixes
 * (deeper first); within one path, exact host, wildcard host, no host; then
 * higher priority; then id order. The first candidate whose methods, remote
 * addresses and vars all pass wins, so a failed check falls through.
 */

import { BlockList, isIPv6 } from 'node:net';

import { parseCidr } from '../../shared/config.js';
import { parseUri, PathTree, segmentEnd } from './radix.js';
import type { UriPattern } from './radix.js';
import { RouteSet } from './route-set.js';
import type { CompiledRoute, Entry, MatchState, RequestInfo } from './route-set.js';
import { compileVars } from './vars.js';

export type { RequestInfo } from './route-set.js';

export interface RouteSpec<T> {
  id: string;
  /** `/exact`, `/prefix/*`, `/prefix*`, `/users/:id`, `/files/:name/*rest`. */
  uris: string[];
  /** Undefined or empty: any method. */
  methods?: string[];
  /** `api.example.com` or `*.example.com`; undefined or empty: any host. */
  hosts?: string[];
  /** IPs or CIDRs, IPv4 or IPv6; undefined or empty: any client. */
  remoteAddrs?: string[];
  /** An APISIX vars expression, see vars.ts. */
  vars?: unknown[];
  /** Higher wins among routes of equally specific path and host. */
  priority: number;
  value: T;
}

export interface RouteMatch<T> {
  value: T;
  id: string;
  /** `:name` and `*name` captures, in the canonical (escaped) form of the path. */
  params: Record<string, string>;
}

/** A route spec the router cannot use; the previous version stays in place. */
export class RouteError extends Error {
  constructor(
    readonly routeId: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`route "${routeId}": ${message}`, options);
    this.name = 'RouteError';
  }
}

/** A route as stored: one entry per uri, each with the set holding it. */
interface Stored<T> {
  readonly route: CompiledRoute<T>;
  readonly placed: readonly { entry: Entry<T>; set: RouteSet<T> }[];
}

export class Router<T> {
  readonly #tree = new PathTree<RouteSet<T>>();
  readonly #routes = new Map<string, Stored<T>>();
  #routesWithHosts = 0;

  get size(): number {
    return this.#routes.size;
  }

  /** Adds or replaces a route; throws a RouteError and changes nothing if the spec is bad. */
  upsert(spec: RouteSpec<T>): void {
    const route = compileRoute(spec);
    this.remove(spec.id);

    const placed = route.patterns.map((pattern) => {
      const entry: Entry<T> = { route, pattern };
      const set = this.#tree.acquire(pattern, () => new RouteSet<T>());
      set.add(entry);
      return { entry, set };
    });
    this.#routes.set(route.id, { route, placed });
    this.#routesWithHosts += hasHosts(route) ? 1 : 0;
  }

  remove(id: string): void {
    const stored = this.#routes.get(id);
    if (stored === undefined) {
      return;
    }

    for (const { entry, set } of stored.placed) {
      set.remove(entry);
      if (set.size === 0) {
        this.#tree.release(entry.pattern);
      }
    }
    this.#routes.delete(id);
    this.#routesWithHosts -= hasHosts(stored.route) ? 1 : 0;
  }

  match(req: RequestInfo): RouteMatch<T> | undefined {
    if (!req.path.startsWith('/')) {
      return undefined;
    }

    // The host key costs a string or two; skip it when no route looks at it.
    const state: MatchState = { req, host: this.#routesWithHosts === 0 ? '' : hostKey(req.host) };
    const entry = this.#tree.find(req.path, pickFrom<T>, state);
    if (entry === undefined) {
      return undefined;
    }
    const { route, pattern } = entry;
    return { value: route.value, id: route.id, params: captureParams(pattern, req.path) };
  }
}

function pickFrom<T>(set: RouteSet<T>, state: MatchState): Entry<T> | undefined {
  return set.pick(state);
}

function hasHosts<T>(route: CompiledRoute<T>): boolean {
  return route.hosts.length > 0 || route.hostSuffixes.length > 0;
}

/** `API.Example.com:8080` → `api.example.com`; `[::1]:80` → `[::1]`. */
function hostKey(host: string): string {
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.indexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

// Re-walks the path only for the winner, so the search itself allocates no
// capture state.
function captureParams(pattern: UriPattern, path: string): Record<string, string> {
  const params: Record<string, string> = {};
  if (pattern.params.length === 0 && pattern.restName === undefined) {
    return params;
  }

  let pos = 1;
  let next = 0;
  for (let index = 0; index < pattern.segments.length; index++) {
    const end = segmentEnd(path, pos);
    const param = pattern.params[next];
    if (param?.index === index) {
      params[param.name] = path.slice(pos, end);
      next++;
    }
    pos = end + 1;
  }

  if (pattern.restName !== undefined) {
    params[pattern.restName] = path.slice(pos + (pattern.prefix ?? '').length);
  }
  return params;
}

function compileRoute<T>(spec: RouteSpec<T>): CompiledRoute<T> {
  try {
    return {
      id: checkId(spec.id),
      priority: checkPriority(spec.priority),
      value: spec.value,
      patterns: compileUris(spec.uris),
      methods: spec.methods?.length ? new Set(spec.methods.map((m) => m.toUpperCase())) : undefined,
      ...compileHosts(spec.hosts ?? []),
      addrs: spec.remoteAddrs?.length ? compileAddrs(spec.remoteAddrs) : undefined,
      vars: spec.vars === undefined ? undefined : compileVars(spec.vars),
    };
  } catch (err) {
    throw new RouteError(String(spec.id), (err as Error).message, { cause: err });
  }
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id === '') {
    throw new TypeError('id must be a non-empty string');
  }
  return id;
}

function checkPriority(priority: unknown): number {
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new TypeError('priority must be a finite number');
  }
  return priority;
}

function compileUris(uris: unknown): UriPattern[] {
  if (!Array.isArray(uris) || uris.length === 0) {
    throw new TypeError('uris must be a non-empty array');
  }
  return uris.map((uri: unknown) => parseUri(String(uri)));
}

// Shared by the many routes without hosts.
const NO_HOSTS: readonly string[] = Object.freeze([]);

function compileHosts(hosts: string[]): {
  hosts: readonly string[];
  hostSuffixes: readonly string[];
} {
  if (hosts.length === 0) {
    return { hosts: NO_HOSTS, hostSuffixes: NO_HOSTS };
  }
  const exact = new Set<string>();
  const suffixes = new Set<string>();
  for (const host of hosts.map((h) => h.toLowerCase())) {
    if (!host.includes('*')) {
      exact.add(host);
    } else if (host.lastIndexOf('*') === 0 && host.length > 1) {
      suffixes.add(host.slice(1));
    } else {
      throw new TypeError(`host "${host}" may only have "*" at its start`);
    }
  }
  return {
    hosts: exact.size === 0 ? NO_HOSTS : [...exact],
    hostSuffixes: suffixes.size === 0 ? NO_HOSTS : [...suffixes],
  };
}

function compileAddrs(addrs: string[]): BlockList {
  const list = new BlockList();
  for (const raw of addrs) {
    const [addr = '', bits] = parseCidr(raw).split('/');
    list.addSubnet(addr, Number(bits), isIPv6(addr) ? 'ipv6' : 'ipv4');
  }
  return list;
}
