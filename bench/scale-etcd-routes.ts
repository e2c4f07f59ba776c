/**
 * A data plane behind an etcd holding 100,000 routes written straight into
 * it: its cold sync, how long a route change takes to be enforced, and its
 * throughput while routes change twice a second against without changes.
 */
import { randomBytes } from 'node:crypto';

import { createEtcdStore } from '../shared/store/etcd.js';
import type { ConfigStore } from '../shared/store/types.js';
import { inParallel } from './http.js';
import type { Lab } from './lab.js';
import { alternate, measurePeak } from './load.js';
import type { Measured } from './load.js';
import type { BenchOptions } from './options.js';
import { untilServed } from './propagation.js';
import { median } from './stats.js';
import { SERVER_CPUS } from './throughput.js';
import { startTollgate, waitForCount } from './tollgate.js';
import type { EtcdTarget, Tollgate } from './tollgate.js';

const ETCD_CONCURRENCY = 64;
const CHANGE_EVERY_MS = 500;
/** Large configs take a while to read and apply. */
const SYNC_TIMEOUT_MS = 300_000;

export interface EtcdRoutesResult {
  routes: number;
  write_s: number;
  cold_sync_ms: number;
  enforce_median_ms: number;
  enforce_samples_ms: number[];
  quiet: Measured;
  changing: Measured;
  changes: number;
  diff_pct: number;
}

type RouteJson = (id: string, uri: string) => string;

export async function benchEtcdRoutes(
  lab: Lab,
  options: BenchOptions,
  etcd: EtcdTarget,
  upstreamPort: number,
): Promise<EtcdRoutesResult> {
  const store = createEtcdStore({ ...etcd, timeoutMs: 30_000 });
  const route: RouteJson = (id, uri) =>
    JSON.stringify({ id, uri, upstream: { nodes: { [`127.0.0.1:${upstreamPort}`]: 1 } } });
  try {
    const writeStart = performance.now();
    await writeRoutes(store, route, options.etcdRoutes);
    const writeS = (performance.now() - writeStart) / 1000;

    const node = await startTollgate(lab, 'scale-etcd-routes', {
      mode: 'data-plane',
      cpus: SERVER_CPUS,
      etcd,
      readyTimeoutMs: SYNC_TIMEOUT_MS,
    });
    const coldSyncMs = performance.now() - node.startedAt;
    try {
      await waitForCount(node, 'routes', options.etcdRoutes + 1, SYNC_TIMEOUT_MS);
      const samples = await timeEnforcement(node, store, route, options.enforceSamples);

      const changer = new RouteChanger(store, route, options.etcdRoutes);
      const url = `${node.gateway}/ip`;
      const [quiet, changing] = (await alternate([
        () => measurePeak('etcd routes, no changes', url, {}, options),
        () => changer.during(() => measurePeak('etcd routes, changing', url, {}, options)),
      ])) as [Measured, Measured];
      return {
        routes: options.etcdRoutes,
        write_s: writeS,
        cold_sync_ms: coldSyncMs,
        enforce_median_ms: median(samples),
        enforce_samples_ms: samples,
        quiet,
        changing,
        changes: changer.changes,
        diff_pct: ((changing.rps - quiet.rps) / quiet.rps) * 100,
      };
    } finally {
      await lab.stop(node.child);
    }
  } finally {
    await store.close();
  }
}

/** Route `ip` on /ip and routes r0 to r<count - 1> on /r/<i>. */
async function writeRoutes(store: ConfigStore, route: RouteJson, count: number): Promise<void> {
  await store.put('/routes/ip', route('ip', '/ip'));
  const ids = Array.from({ length: count }, (_, i) => i);
  await inParallel(ids, ETCD_CONCURRENCY, async (i) => {
    await store.put(`/routes/r${i}`, route(`r${i}`, `/r/${i}`));
  });
}

/** Moves route r<k> to a new uri and times until the node serves it. */
async function timeEnforcement(node: Tollgate, store: ConfigStore, route: RouteJson, n: number) {
  const samples: number[] = [];
  const nonce = randomBytes(4).toString('hex');
  for (let k = 0; k < n; k++) {
    const uri = `/moved/${nonce}/${k}`;
    const start = performance.now();
    await store.put(`/routes/r${k}`, route(`r${k}`, uri));
    await untilServed(node, uri);
    samples.push(performance.now() - start);
  }
  return samples;
}

/** Changes a route (a different one each time) every 500 ms while a measurement runs. */
class RouteChanger {
  changes = 0;
  readonly #store: ConfigStore;
  readonly #route: RouteJson;
  readonly #routes: number;

  constructor(store: ConfigStore, route: RouteJson, routes: number) {
    this.#store = store;
    this.#route = route;
    this.#routes = routes;
  }

  async during<T>(measure: () => Promise<T>): Promise<T> {
    let failure: unknown;
    const timer = setInterval(() => {
      const n = ++this.changes;
      const k = (n * 7919) % this.#routes;
      const value = this.#route(`r${k}`, `/r/${k}/v${n}`);
      this.#store.put(`/routes/r${k}`, value).catch((err: unknown) => {
        failure = err;
      });
    }, CHANGE_EVERY_MS);
    try {
      const result = await measure();
      if (failure !== undefined) {
        throw failure;
      }
      return result;
    } finally {
      clearInterval(timer);
    }
  }
}
