/**
 * `tollgate data-plane`: one process per worker sharing the gateway port
 * (node:cluster), each with its own store connection and config copy. The
 * primary owns the status listener and reports ready only when every
 * worker is; SIGTERM drains every worker before the primary exits.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';

import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { resolveKeyring } from '../shared/keyring-file.js';
import { openStore } from '../shared/store/index.js';
import { startDataPlane } from './server.js';
import { statusHandler } from './status.js';
import type { SyncStatus } from './sync.js';

const STATUS_INTERVAL_MS = 1000;

export function workerCount(config: Config): number {
  return config.gateway.workers === 0 ? availableParallelism() : config.gateway.workers;
}

export async function runDataPlane(config: Config, logger: Logger): Promise<void> {
  if (config.etcd.endpoints.length === 0) {
    throw new Error(
      'the data plane reads its config from etcd: set TOLLGATE_ETCD_ENDPOINTS ' +
        '(or run `npm start` for a single process on the embedded store)',
    );
  }
  const workers = workerCount(config);
  if (workers === 1) {
    return runSingle(config, logger);
  }
  if (cluster.isPrimary) {
    return runPrimary(config, logger, workers);
  }
  return runWorker(config, logger);
}

async function runSingle(config: Config, logger: Logger): Promise<void> {
  const store = await openStore(config);
  const keyring = await resolveKeyring(config, logger);
  const plane = await startDataPlane(config, store, logger, { statusListener: true, keyring });
  onTerm(logger, async () => {
    await plane.close();
    await store.close();
  });
}

async function runWorker(config: Config, logger: Logger): Promise<void> {
  const store = await openStore(config);
  const keyring = await resolveKeyring(config, logger);
  const plane = await startDataPlane(config, store, logger, { statusListener: false, keyring });
  const report = () => process.send?.({ type: 'status', status: plane.sync.status() });
  const timer = setInterval(report, STATUS_INTERVAL_MS);
  void plane.sync.whenReady().then(report);
  onTerm(logger, async () => {
    clearInterval(timer);
    await plane.close();
    await store.close();
  });
}

async function runPrimary(config: Config, logger: Logger, count: number): Promise<void> {
  const statuses = new Map<number, SyncStatus>();
  let draining = false;
  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (msg: { type?: string; status?: SyncStatus }) => {
      if (msg.type === 'status' && msg.status) {
        statuses.set(worker.id, msg.status);
      }
    });
  };
  for (let i = 0; i < count; i++) {
    fork();
  }
  cluster.on('exit', (worker: Worker, code) => {
    statuses.delete(worker.id);
    if (!draining) {
      logger.error('data-plane worker died, starting another', { worker: worker.id, code });
      fork();
    }
  });

  const status = createServer(statusHandler(() => aggregate(statuses, count, draining)));
  await new Promise<void>((resolve) =>
    status.listen(config.status.listen.port, config.status.listen.host, resolve),
  );
  logger.info('data-plane primary started', { workers: count });

  onTerm(logger, async () => {
    draining = true;
    const exits = Object.values(cluster.workers ?? {}).map(
      (w) =>
        new Promise<void>((resolve) =>
          w?.isDead() ? resolve() : w?.once('exit', () => resolve()),
        ),
    );
    for (const w of Object.values(cluster.workers ?? {})) {
      w?.process.kill('SIGTERM');
    }
    await Promise.all(exits);
    status.close();
  });
}

/** Ready only when every worker has synced; the revision is the lowest one served. */
function aggregate(statuses: Map<number, SyncStatus>, expected: number, draining: boolean) {
  const all = [...statuses.values()];
  const ready = all.length === expected && all.every((s) => s.ready);
  const revision = all.length === 0 ? 0 : Math.min(...all.map((s) => s.revision));
  const first = all[0];
  return {
    phase: first?.phase ?? 'starting',
    ready,
    revision,
    counts: first?.counts ?? {
      routes: 0,
      services: 0,
      upstreams: 0,
      consumers: 0,
      plugin_configs: 0,
      global_rules: 0,
    },
    workers: all.length,
    draining,
  };
}

function onTerm(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info('draining', { signal });
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('failed to stop cleanly', { error: err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
