/**
 * Load balancers for upstream nodes, mirroring APISIX's `type` choices.
 *
 * A balancer is built once per upstream version and is pure in-memory state;
 * pick() runs per request, so it allocates nothing. Nodes are grouped by
 * priority: only the highest group is used until every node in it is
 * excluded (already tried), as APISIX does.
 */

import { ConsistentHashBalancer } from './chash.js';
import { LeastConnBalancer } from './least-conn.js';
import { RoundRobinBalancer } from './roundrobin.js';

export interface UpstreamNode {
  host: string;
  port: number;
  weight: number;
  priority: number;
  /** 'host:port' with [v6] brackets */
  id: string;
}

export interface PickContext {
  /** The chash key, resolved by the caller from the var, header, cookie or consumer name. */
  hashKey?: string;
}

export interface Balancer {
  /** `exclude` holds the ids of nodes already tried (for retries). */
  pick(ctx: PickContext, exclude?: ReadonlySet<string>): UpstreamNode | undefined;
  /** least_conn bookkeeping; call when a request to the node starts and ends (no-ops for others) */
  acquire(node: UpstreamNode): void;
  release(node: UpstreamNode): void;
}

export interface UpstreamBalancing {
  nodes: unknown;
  type?: string;
  scheme?: string;
}

type Scheme = 'http' | 'https';

const DEFAULT_PORTS: Record<Scheme, number> = { http: 80, https: 443 };

type Factory = (nodes: readonly UpstreamNode[]) => Balancer;

// A Map, not an object literal, so a type such as 'constructor' finds nothing.
const FACTORIES = new Map<string, Factory>([
  ['roundrobin', (nodes) => new RoundRobinBalancer(nodes)],
  ['chash', (nodes) => new ConsistentHashBalancer(nodes)],
  // Limitation: in-flight counts live in the balancer, so they restart at zero
  // when the upstream changes and a new balancer is built.
  ['least_conn', (nodes) => new LeastConnBalancer(nodes)],
]);

export function createBalancer(upstream: UpstreamBalancing): Balancer {
  const type = upstream.type ?? 'roundrobin';
  const factory = FACTORIES.get(type);
  if (factory === undefined) {
    throw new TypeError(`upstream type must be one of ${[...FACTORIES.keys()].join(', ')}`);
  }

  const scheme: Scheme = upstream.scheme === 'https' ? 'https' : 'http';
  const groups = groupByPriority(parseNodes(upstream.nodes, scheme));

  // The common single-priority case skips the wrapper and its lookups.
  if (groups.length === 1 && groups[0] !== undefined) return factory(groups[0]);
  return new PriorityBalancer(groups, factory);
}

/**
 * Reads both APISIX node forms: `{"host:port": weight}` and
 * `[{host, port?, weight, priority?}]`. Zero-weight nodes are kept (they stay
 * visible) but no balancer ever picks them.
 */
export function parseNodes(nodes: unknown, scheme: Scheme): UpstreamNode[] {
  const defaultPort = DEFAULT_PORTS[scheme];
  if (Array.isArray(nodes)) return nodes.map((item) => fromObject(item, defaultPort));
  if (isRecord(nodes)) {
    return Object.entries(nodes).map(([key, weight]) => fromMapEntry(key, weight, defaultPort));
  }
  throw new TypeError('upstream nodes must be an object or an array');
}

function fromMapEntry(key: string, weight: unknown, defaultPort: number): UpstreamNode {
  const { host, port } = splitHostPort(key);
  return makeNode(host, port ?? defaultPort, weight, 0);
}

function fromObject(item: unknown, defaultPort: number): UpstreamNode {
  if (!isRecord(item) || typeof item.host !== 'string') {
    throw new TypeError('upstream node must be an object with a string host');
  }

  const port = item.port ?? defaultPort;
  if (!isPort(port)) throw new TypeError(`upstream node ${item.host} port must be 1-65535`);

  // Hosts may arrive bracketed ("[::1]"); keep them bare for connecting.
  const host = item.host.replace(/^\[(.*)\]$/, '$1');
  return makeNode(host, port, item.weight, item.priority ?? 0);
}

function makeNode(host: string, port: number, weight: unknown, priority: unknown): UpstreamNode {
  const id = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
    throw new TypeError(`upstream node ${id} weight must be a number >= 0`);
  }
  if (typeof priority !== 'number' || !Number.isFinite(priority)) {
    throw new TypeError(`upstream node ${id} priority must be a number`);
  }
  return { host, port, weight, priority, id };
}

/** Splits "host", "host:port", "[v6]", "[v6]:port" or a bare "v6" address. */
function splitHostPort(key: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(key);
  if (bracketed !== null) return { host: bracketed[1] ?? '', port: toPort(key, bracketed[2]) };

  const colon = key.indexOf(':');
  // More than one colon without brackets can only be an IPv6 address alone.
  if (colon < 0 || key.indexOf(':', colon + 1) >= 0) return { host: key };
  return { host: key.slice(0, colon), port: toPort(key, key.slice(colon + 1)) };
}

function toPort(key: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!isPort(port)) throw new TypeError(`upstream node ${key} port must be 1-65535`);
  return port;
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Node groups, highest priority first, each in the order the nodes were listed. */
function groupByPriority(nodes: UpstreamNode[]): UpstreamNode[][] {
  const byPriority = new Map<number, UpstreamNode[]>();
  for (const node of nodes) {
    const group = byPriority.get(node.priority);
    if (group === undefined) byPriority.set(node.priority, [node]);
    else group.push(node);
  }
  return [...byPriority.entries()].sort(([a], [b]) => b - a).map(([, group]) => group);
}

/** Tries each priority group in turn; a lower one is reached only when the higher gives nothing. */
class PriorityBalancer implements Balancer {
  readonly #balancers: Balancer[] = [];
  // Routes acquire/release to the group that owns the node.
  readonly #owner = new Map<string, Balancer>();

  constructor(groups: readonly UpstreamNode[][], factory: Factory) {
    for (const group of groups) {
      const balancer = factory(group);
      this.#balancers.push(balancer);
      for (const node of group) this.#owner.set(node.id, balancer);
    }
  }

  pick(ctx: PickContext, exclude?: ReadonlySet<string>): UpstreamNode | undefined {
    for (const balancer of this.#balancers) {
      const node = balancer.pick(ctx, exclude);
      if (node !== undefined) return node;
    }
    return undefined;
  }

  acquire(node: UpstreamNode): void {
    this.#owner.get(node.id)?.acquire(node);
  }

  release(node: UpstreamNode): void {
    this.#owner.get(node.id)?.release(node);
  }
}
