/**
 * Consistent hashing: each node owns points on a 32-bit ring in proportion to
 * its weight, and a key goes to the first point at or after its hash. Removing
 * a node moves only the keys that node owned.
 */

import { createHash } from 'node:crypto';

import type { Balancer, PickContext, UpstreamNode } from './index.js';
import { RoundRobinBalancer } from './roundrobin.js';

/** Ring points per unit of weight; 160 is the figure ketama popularised. */
const POINTS_PER_WEIGHT = 160;
/** Ring size ceiling (points) so large weights do not build a huge ring. */
const MAX_POINTS = 1 << 16;

export class ConsistentHashBalancer implements Balancer {
  readonly #nodes: readonly UpstreamNode[];
  /** Point hashes in ascending order. */
  readonly #hashes: Uint32Array;
  /** Index into #nodes of the node owning the point at the same position. */
  readonly #owners: Uint32Array;
  // A request without a key still has to go somewhere.
  readonly #fallback: RoundRobinBalancer;

  constructor(nodes: readonly UpstreamNode[]) {
    this.#nodes = nodes;
    this.#fallback = new RoundRobinBalancer(nodes);

    const ring = buildRing(nodes);
    this.#hashes = Uint32Array.from(ring, (point) => point.hash);
    this.#owners = Uint32Array.from(ring, (point) => point.owner);
  }

  pick(ctx: PickContext, exclude?: ReadonlySet<string>): UpstreamNode | undefined {
    // An empty value (e.g. a blank header) is treated as no key, not as one
    // shared key that would pin every such request to the same node.
    if (ctx.hashKey === undefined || ctx.hashKey === '') return this.#fallback.pick(ctx, exclude);
    if (this.#hashes.length === 0) return undefined;
    if (exclude !== undefined && !this.#anyLeft(exclude)) return undefined;

    const start = this.#firstAtOrAfter(hashKey(ctx.hashKey));
    return this.#walk(start, exclude);
  }

  acquire(): void {}

  release(): void {}

  /** Whether some pickable node is outside `exclude`, so a ring walk ends. */
  #anyLeft(exclude: ReadonlySet<string>): boolean {
    for (const node of this.#nodes) {
      if (node.weight > 0 && !exclude.has(node.id)) return true;
    }
    return false;
  }

  /** Binary search for the first point whose hash is >= `hash`, wrapping to 0. */
  #firstAtOrAfter(hash: number): number {
    const hashes = this.#hashes;
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((hashes[mid] ?? 0) < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === hashes.length ? 0 : lo;
  }

  /** The owner of the first point from `start` on whose node is not excluded. */
  #walk(start: number, exclude?: ReadonlySet<string>): UpstreamNode | undefined {
    const size = this.#owners.length;
    for (let step = 0; step < size; step++) {
      const node = this.#nodes[this.#owners[(start + step) % size] ?? 0];
      if (node !== undefined && exclude?.has(node.id) !== true) return node;
    }
    return undefined;
  }
}

interface RingPoint {
  hash: number;
  owner: number;
}

/** Points for every weighted node, sorted by hash; built once per balancer. */
function buildRing(nodes: readonly UpstreamNode[]): RingPoint[] {
  const totalWeight = nodes.reduce((sum, node) => sum + Math.max(node.weight, 0), 0);
  // Limitation: once the ceiling scales weights down, adding or removing a
  // node rescales every other node's points too, so more keys move than ideal.
  const perWeight = Math.min(POINTS_PER_WEIGHT, MAX_POINTS / Math.max(totalWeight, 1));
  const ring: RingPoint[] = [];

  nodes.forEach((node, owner) => {
    if (node.weight <= 0) return;
    const points = Math.max(1, Math.round(node.weight * perWeight));
    // Points derive from the node id alone, so the same node lands on the same
    // spots whatever else is in the upstream or in which order it is listed.
    for (let i = 0; i < points; i++) ring.push({ hash: pointHash(`${node.id}#${i}`), owner });
  });

  // Ties (rare) are broken by id so the ring does not depend on node order.
  ring.sort((a, b) =>
    a.hash !== b.hash ? a.hash - b.hash : compareIds(nodes[a.owner]?.id, nodes[b.owner]?.id),
  );
  return ring;
}

function compareIds(a = '', b = ''): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A well-spread 32-bit point from md5; only paid when the ring is built. */
function pointHash(text: string): number {
  return createHash('md5').update(text).digest().readUInt32BE(0);
}

/**
 * FNV-1a over the UTF-16 code units, then murmur3's finaliser: FNV alone
 * leaves the high bits of short, similar keys (user-1, user-2) clustered.
 */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }

  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
