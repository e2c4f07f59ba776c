/**
 * Smooth weighted round-robin, the algorithm nginx uses for its upstreams.
 *
 * Every pick adds each node's weight to its running score, takes the node with
 * the highest score and lowers that score by the total weight. Over one cycle
 * (the sum of the weights) each node is picked exactly `weight` times, and the
 * picks of a heavy node are spread out instead of arriving in a burst.
 */

import type { Balancer, PickContext, UpstreamNode } from './index.js';

export class RoundRobinBalancer implements Balancer {
  readonly #nodes: readonly UpstreamNode[];
  // Scores live in a typed array so a pick allocates nothing.
  readonly #current: Float64Array;

  constructor(nodes: readonly UpstreamNode[]) {
    this.#nodes = nodes;
    this.#current = new Float64Array(nodes.length);
  }

  pick(_ctx: PickContext, exclude?: ReadonlySet<string>): UpstreamNode | undefined {
    const nodes = this.#nodes;
    const current = this.#current;
    let best = -1;
    let bestScore = -Infinity;
    let total = 0;

    // Excluded nodes neither gain score nor count in the total, as nginx does
    // for peers already tried, so the cycle stays fair once they return.
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as UpstreamNode;
      if (node.weight <= 0 || exclude?.has(node.id) === true) continue;

      const score = (current[i] ?? 0) + node.weight;
      current[i] = score;
      total += node.weight;
      // Strictly greater: on a tie the earlier node wins, which keeps runs reproducible.
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    }

    if (best < 0) return undefined;

    current[best] = bestScore - total;
    return nodes[best];
  }

  acquire(): void {}

  release(): void {}
}
