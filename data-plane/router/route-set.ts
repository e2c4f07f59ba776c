/**
 * The routes sharing one path slot of the tree, indexed by host so that a
 * thousand tenants on `/*` cost one Map lookup rather than a scan. Picks the
 * winner for a request: exact host, then wildcard host, then no host; within
 * each, higher priority, then id order; the first whose checks all pass.
 */

import type { BlockList } from 'node:net';

import { LengthIndex } from './length-index.js';
import type { UriPattern } from './radix.js';
import type { VarsCheck, VarSource } from './vars.js';

export interface RequestInfo extends VarSource {
  /** Canonical path, from normalizeTarget. */
  path: string;
  method: string;
  /** The Host header as sent; case and a `:port` are ignored. */
  host: string;
  remoteAddr: string;
}

export interface CompiledRoute<T> {
  readonly id: string;
  readonly priority: number;
  readonly value: T;
  readonly patterns: readonly UriPattern[];
  readonly methods: ReadonlySet<string> | undefined;
  /** Lower-case host names. */
  readonly hosts: readonly string[];
  /** Lower-case suffixes of `*` hosts: `.example.com` for `*.example.com`. */
  readonly hostSuffixes: readonly string[];
  readonly addrs: BlockList | undefined;
  readonly vars: VarsCheck | undefined;
}

/** One uri of one route: a route with three uris has three entries. */
export interface Entry<T> {
  readonly route: CompiledRoute<T>;
  readonly pattern: UriPattern;
}

export interface MatchState {
  readonly req: RequestInfo;
  /** The request host in lower case without its port. */
  readonly host: string;
}

export class RouteSet<T> {
  // Most paths hold one route without hosts: the host indexes are made on
  // first use, which keeps 100,000 slots cheap to build and to collect.
  #byHost: Map<string, Entry<T>[]> | undefined;
  #bySuffix: LengthIndex<Entry<T>[]> | undefined;
  #anyHost: Entry<T>[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(entry: Entry<T>): void {
    const { hosts, hostSuffixes } = entry.route;
    for (const host of hosts) {
      this.#byHost ??= new Map();
      addTo(this.#byHost, host, entry);
    }
    for (const suffix of hostSuffixes) {
      this.#bySuffix ??= new LengthIndex();
      addTo(this.#bySuffix, suffix, entry);
    }

    if (hosts.length === 0 && hostSuffixes.length === 0) {
      this.#anyHost = insertSorted(this.#anyHost, entry);
    }
    this.#size++;
  }

  remove(entry: Entry<T>): void {
    const { hosts, hostSuffixes } = entry.route;
    for (const host of hosts) {
      removeFrom(this.#byHost, host, entry);
    }
    for (const suffix of hostSuffixes) {
      removeFrom(this.#bySuffix, suffix, entry);
    }
    if (this.#byHost?.size === 0) {
      this.#byHost = undefined;
    }
    if (this.#bySuffix?.size === 0) {
      this.#bySuffix = undefined;
    }

    if (hosts.length === 0 && hostSuffixes.length === 0) {
      removeSorted(this.#anyHost, entry);
    }
    this.#size--;
  }

  pick(state: MatchState): Entry<T> | undefined {
    const exact = this.#byHost?.get(state.host);
    return (
      (exact === undefined ? undefined : firstPassing(exact, state)) ??
      this.#pickBySuffix(state) ??
      firstPassing(this.#anyHost, state)
    );
  }

  // Several wildcards can cover one host (`*.b.example.com`, `*.example.com`);
  // each list's first passing entry competes on priority and id.
  #pickBySuffix(state: MatchState): Entry<T> | undefined {
    const suffixes = this.#bySuffix;
    if (suffixes === undefined) {
      return undefined;
    }

    const { host } = state;
    let best: Entry<T> | undefined;
    for (const length of suffixes.lengths) {
      const list = length < host.length ? suffixes.get(host.slice(-length)) : undefined;
      const found = list === undefined ? undefined : firstPassing(list, state);
      if (found !== undefined && (best === undefined || comesBefore(found, best))) {
        best = found;
      }
    }
    return best;
  }
}

// Limitation: routes sharing one path and host that differ only in methods,
// addresses or vars are scanned in order, so a thousand of them on one path
// cost a thousand checks for a request that fails them all.
function firstPassing<T>(list: readonly Entry<T>[], state: MatchState): Entry<T> | undefined {
  for (let i = 0; i < list.length; i++) {
    const entry = list[i] as Entry<T>;
    if (passes(entry.route, state.req)) {
      return entry;
    }
  }
  return undefined;
}

/** Every check but host and path, cheapest first. */
function passes<T>(route: CompiledRoute<T>, req: RequestInfo): boolean {
  if (route.methods !== undefined && !route.methods.has(req.method)) {
    return false;
  }
  if (route.addrs !== undefined && !allowsAddress(route.addrs, req.remoteAddr)) {
    return false;
  }
  return route.vars === undefined || route.vars(req);
}

// BlockList matches an IPv4-mapped IPv6 client (`::ffff:10.0.0.1`) against
// IPv4 rules by itself; only the family has to be named.
function allowsAddress(addrs: BlockList, addr: string): boolean {
  return addrs.check(addr, addr.includes(':') ? 'ipv6' : 'ipv4');
}

function comesBefore<T>(a: Entry<T>, b: Entry<T>): boolean {
  const x = a.route;
  const y = b.route;
  return x.priority !== y.priority ? x.priority > y.priority : x.id < y.id;
}

interface ListStore<T> {
  get(key: string): Entry<T>[] | undefined;
  set(key: string, list: Entry<T>[]): void;
  delete(key: string): void;
}

function addTo<T>(store: ListStore<T>, key: string, entry: Entry<T>): void {
  const list = store.get(key);
  if (list === undefined) {
    store.set(key, [entry]);
  } else {
    insertSorted(list, entry);
  }
}

function removeFrom<T>(store: ListStore<T> | undefined, key: string, entry: Entry<T>): void {
  const list = store?.get(key);
  if (list !== undefined) {
    removeSorted(list, entry);
    if (list.length === 0) {
      store?.delete(key);
    }
  }
}

// Lists stay sorted so that picking needs no sort. Binary search finds the
// place; the splice moves pointers only, which is fast even for long lists.
// A first entry gets a fresh one-slot array: growing an empty one reserves
// seventeen slots, and most lists never hold a second entry.
function insertSorted<T>(list: Entry<T>[], entry: Entry<T>): Entry<T>[] {
  if (list.length === 0) {
    return [entry];
  }
  list.splice(lowerBound(list, entry), 0, entry);
  return list;
}

function removeSorted<T>(list: Entry<T>[], entry: Entry<T>): void {
  for (let i = lowerBound(list, entry); i < list.length; i++) {
    if (list[i] === entry) {
      list.splice(i, 1);
      return;
    }
  }
}

/** The first index whose entry does not come before `entry`. */
function lowerBound<T>(list: readonly Entry<T>[], entry: Entry<T>): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (comesBefore(list[mid] as Entry<T>, entry)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}
