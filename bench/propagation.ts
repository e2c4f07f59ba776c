/**
 * Config propagation: one control plane and three data planes on one etcd.
 * Each Admin API write moves a route to a new uri and is timed from the
 * write's start until every node answers that uri with the upstream's body.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { newAgent, request } from './http.js';
import type { Lab } from './lab.js';
import { startTollgate, upstreamOf } from './tollgate.js';
import type { EtcdTarget, Tollgate } from './tollgate.js';
import { median, percentile } from './stats.js';

const DATA_PLANES = 3;
/** A write not enforced everywhere by then fails the bench. */
const ENFORCE_TIMEOUT_MS = 10_000;

export interface PropagationResult {
  writes: number;
  data_planes: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export async function benchPropagation(
  lab: Lab,
  etcd: EtcdTarget,
  upstreamPort: number,
  writes: number,
): Promise<PropagationResult> {
  const control = await startTollgate(lab, 'propagation-cp', { mode: 'control-plane', etcd });
  const planes: Tollgate[] = [];
  try {
    for (let i = 0; i < DATA_PLANES; i++) {
      planes.push(await startTollgate(lab, `propagation-dp${i}`, { mode: 'data-plane', etcd }));
    }
    const pollers = planes.map((plane) => ({ plane, agent: newAgent() }));

    const times: number[] = [];
    for (let i = 0; i < writes; i++) {
      const uri = `/prop/${i}`;
      const start = performance.now();
      await control.admin.put('/routes/prop', { uri, upstream: upstreamOf(upstreamPort) });
      await Promise.all(pollers.map(({ plane, agent }) => untilServed(plane, uri, agent)));
      times.push(performance.now() - start);
    }
    pollers.forEach(({ agent }) => agent.destroy());

    return {
      writes,
      data_planes: DATA_PLANES,
      p50_ms: median(times),
      p99_ms: percentile(times, 99),
      max_ms: Math.max(...times),
    };
  } finally {
    await Promise.all([control, ...planes].map((node) => lab.stop(node.child)));
  }
}

/** Polls `uri` on one node over its own keep-alive connection until the upstream answers. */
export async function untilServed(
  node: Tollgate,
  uri: string,
  agent = newAgent(),
  timeoutMs = ENFORCE_TIMEOUT_MS,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const reply = await request(node.gateway + uri, { agent, timeoutMs: 2_000 });
    if (reply.status === 200 && reply.body.includes('"origin"')) {
      return;
    }
    await sleep(1);
  }
  throw new Error(`${node.child.name} did not serve ${uri} within ${timeoutMs} ms`);
}
