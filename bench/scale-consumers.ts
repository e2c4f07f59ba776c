/**
 * Many consumers: 100,000 jwt-auth consumers written straight into etcd, then
 * a data plane's cold sync (process start until /readyz answers 200) and its
 * resident memory once synced, beside a data plane on an empty prefix.
 */
import { randomBytes } from 'node:crypto';

import { createEtcdStore } from '../shared/store/etcd.js';
import { inParallel } from './http.js';
import type { Lab } from './lab.js';
import { rssMiB } from './lab.js';
import { SERVER_CPUS } from './throughput.js';
import { startTollgate, waitForCount } from './tollgate.js';
import type { EtcdTarget } from './tollgate.js';

const ETCD_CONCURRENCY = 64;
const SYNC_TIMEOUT_MS = 300_000;

export interface ConsumersResult {
  consumers: number;
  write_s: number;
  cold_sync_ms: number;
  rss_mib: number;
  empty_cold_sync_ms: number;
  empty_rss_mib: number;
}

export async function benchConsumers(
  lab: Lab,
  count: number,
  etcd: EtcdTarget,
  emptyEtcd: EtcdTarget,
): Promise<ConsumersResult> {
  const writeS = await writeConsumers(etcd, count);
  const loaded = await syncOnce(lab, 'scale-consumers', etcd, count);
  const empty = await syncOnce(lab, 'scale-empty', emptyEtcd, 0);
  return {
    consumers: count,
    write_s: writeS,
    cold_sync_ms: loaded.syncMs,
    rss_mib: loaded.rss,
    empty_cold_sync_ms: empty.syncMs,
    empty_rss_mib: empty.rss,
  };
}

async function writeConsumers(etcd: EtcdTarget, count: number): Promise<number> {
  const store = createEtcdStore({ ...etcd, timeoutMs: 30_000 });
  try {
    const start = performance.now();
    const ids = Array.from({ length: count }, (_, i) => i);
    await inParallel(ids, ETCD_CONCURRENCY, async (i) => {
      const username = `c${i}`;
      await store.put(`/consumers/${username}`, consumerJson(username));
    });
    return (performance.now() - start) / 1000;
  } finally {
    await store.close();
  }
}

function consumerJson(username: string): string {
  const credential = {
    key: `${username}@bench.example`,
    secret: randomBytes(16).toString('hex'),
    algorithm: 'HS256',
    exp: 86400,
    base64_secret: false,
    lifetime_grace_period: 0,
  };
  return JSON.stringify({ username, plugins: { 'jwt-auth': credential } });
}

async function syncOnce(lab: Lab, name: string, etcd: EtcdTarget, consumers: number) {
  const node = await startTollgate(lab, name, {
    mode: 'data-plane',
    cpus: SERVER_CPUS,
    etcd,
    readyTimeoutMs: SYNC_TIMEOUT_MS,
  });
  try {
    const syncMs = performance.now() - node.startedAt;
    await waitForCount(node, 'consumers', consumers, 10_000);
    return { syncMs, rss: rssMiB(node.child.pid) };
  } finally {
    await lab.stop(node.child);
  }
}
