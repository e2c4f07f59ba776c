/**
 * `npm run bench`: Tollgate against nginx, the upstream alone and a Node
 * peer, then config propagation and scale, all on 127.0.0.1. Prints one
 * table per section and writes everything to .tmp/bench-results.json.
 *
 *   npm run bench                     # full: ~10 s per contender per run, scale tests
 *   npm run bench -- --quick          # CI: a few seconds each, small scale numbers
 *   npm run bench -- --soak           # full plus a 10-minute soak (--soak-minutes N)
 *
 * Servers run on core 0; the load generator, the upstream, etcd and the bench
 * itself on core 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { startTestEtcd, uniquePrefix } from '../test/harness/etcd.js';
import { Lab } from './lab.js';
import { LOAD_CPUS } from './load.js';
import type { BenchOptions } from './options.js';
import { parseOptions } from './options.js';
import { benchPropagation } from './propagation.js';
import type { Machine } from './report.js';
import {
  backgroundLine,
  busyPercent,
  contendersReport,
  describeMachine,
  machineLine,
  propagationReport,
  scaleReport,
} from './report.js';
import { benchConsumers } from './scale-consumers.js';
import { benchEtcdRoutes } from './scale-etcd-routes.js';
import { benchAdminRoutes } from './scale-routes.js';
import { startUpstream } from './servers.js';
import { benchContenders } from './throughput.js';
import { ensureTools } from './tools.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_FILE = '.tmp/bench-results.json';

async function main(): Promise<void> {
  const started = performance.now();
  const options = parseOptions(process.argv.slice(2));
  ensureTools();
  console.error('bench: npm run build');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  pinSelf();

  const machine = describeMachine();
  if (machine.cores < 2) {
    console.error('bench: one core only, so the servers share it with the load generator');
  }
  const results: Record<string, unknown> = { machine, options };
  const busyBefore = await busyPercent();
  console.error(`bench: other work keeps the CPUs ${busyBefore.toFixed(0)}% busy`);
  const lab = Lab.create();
  try {
    await runSections(lab, options, machine, results);
  } finally {
    await lab.close();
  }
  const busyAfter = await busyPercent();
  results.background_busy_pct = { before: busyBefore, after: busyAfter };
  console.log(`\n${machineLine(machine)}\n${backgroundLine(busyBefore, busyAfter)}`);

  const seconds = (performance.now() - started) / 1000;
  results.total_s = seconds;
  mkdirSync(`${ROOT}/.tmp`, { recursive: true });
  writeFileSync(`${ROOT}/${RESULTS_FILE}`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nbench finished in ${seconds.toFixed(0)} s; results in ${RESULTS_FILE}`);
}

async function runSections(
  lab: Lab,
  options: BenchOptions,
  machine: Machine,
  results: Record<string, unknown>,
): Promise<void> {
  const upstream = await startUpstream(lab, 'upstream', LOAD_CPUS);

  console.error(`bench: contenders (${options.durationS} s per run, 2 runs each)`);
  const contenders = await benchContenders(lab, options, upstream.port);
  results.contenders = contenders;
  console.log(`\n${contendersReport(contenders, machine, options)}`);

  const etcd = await startTestEtcd();
  lab.onClose(() => etcd.stop());
  const target = (name: string) => ({ endpoints: etcd.endpoints, prefix: uniquePrefix(name) });

  console.error(`bench: propagation (${options.propagationWrites} writes)`);
  const { propagationWrites } = options;
  const propagation = await benchPropagation(
    lab,
    target('propagation'),
    upstream.port,
    propagationWrites,
  );
  results.propagation = propagation;
  console.log(`\n${propagationReport(propagation)}`);

  console.error(`bench: scale (${options.adminRoutes} Admin API routes)`);
  const adminRoutes = await benchAdminRoutes(lab, options, upstream.port);
  console.error(`bench: scale (${options.etcdRoutes} etcd routes)`);
  const etcdRoutes = await benchEtcdRoutes(lab, options, target('routes'), upstream.port);
  console.error(`bench: scale (${options.consumers} consumers)`);
  const consumers = await benchConsumers(
    lab,
    options.consumers,
    target('consumers'),
    target('empty'),
  );
  results.scale = { adminRoutes, etcdRoutes, consumers };
  console.log(`\n${scaleReport(adminRoutes, etcdRoutes, consumers)}`);
}

/**
 * The bench, and so etcd and every child not pinned elsewhere, runs on the
 * load generator's core, away from the server under test.
 */
function pinSelf(): void {
  execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPUS, String(process.pid)], { stdio: 'ignore' });
}

main().catch((err: unknown) => {
  console.error(`bench: failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
