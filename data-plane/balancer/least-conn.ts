/**
 * Least connections: send the request to the node with the least load for its
 * weight, counting the requests in flight through acquire() and release().
 */

import type { Balancer, PickContext, UpstreamNode } from './index.js';

export class LeastConnBalancer implements Balancer {
  readonly #nodes: readonly UpstreamNode[];
  readonly #active: Uint32Array;
  readonly #indexOf = new Map<string, number>();
  // Where the last pick landed; ties go to the next node after it.
  #cursor = -1;

  constructor(nodes: readonly UpstreamNode[]) {
    this.#nodes = nodes;
    this.#active = new Uint32Array(nodes.length);
    // Limitation: two nodes with the same id (possible in the array form) share one counter.
    nodes.forEach((node, i) => this.#indexOf.set(node.id, i));
  }

  pick(_ctx: PickContext, exclude?: ReadonlySet<string>): UpstreamNode | undefined {
    const nodes = this.#nodes;
    const count = nodes.length;
    let best = -1;
    let bestScore = Infinity;

    // Scanning from the node after the last pick makes equal scores take turns.
    for (let step = 1; step <= count; step++) {
      const i = (this.#cursor + step) % count;
      const node = nodes[i] as UpstreamNode;
      if (node.weight <= 0 || exclude?.has(node.id) === true) continue;

      // The load the node would carry with this request, as APISIX scores it:
      // idle nodes then still differ by weight, so the heavier one goes first.
      const score = ((this.#active[i] ?? 0) + 1) / node.weight;
      if (score < bestScore) {
        best = i;
        bestScore = score;
      }
    }

    if (best < 0) return undefined;

    this.#cursor = best;
    return nodes[best];
  }

  acquire(node: UpstreamNode): void {
    const i = this.#indexOf.get(node.id);
    if (i !== undefined) this.#active[i] = (this.#active[i] ?? 0) + 1;
  }

  release(node: UpstreamNode): void {
    const i = this.#indexOf.get(node.id);
    // A release without its acquire (e.g. after a config reload) must not wrap below zero.
    if (i !== undefined && (this.#active[i] ?? 0) > 0) this.#active[i] = (this.#active[i] ?? 0) - 1;
  }

  /** Requests in flight to a node, for tests and metrics. */
  active(node: UpstreamNode): number {
    const i = this.#indexOf.get(node.id);
    return i === undefined ? 0 : (this.#active[i] ?? 0);
  }
}
