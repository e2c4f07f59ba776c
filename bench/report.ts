/**
 * What the bench prints: the machine it ran on and one table per section,
 * as Markdown so that the output can be pasted as it is.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import type { ConsumersResult } from './scale-consumers.js';
import type { EtcdRoutesResult } from './scale-etcd-routes.js';
import type { AdminRoutesResult } from './scale-routes.js';
import type { PropagationResult } from './propagation.js';
import type { SoakResult } from './soak.js';
import type { ContenderSection } from './throughput.js';
import type { BenchOptions } from './options.js';

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  date: string;
}

export function describeMachine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const lscpu = execFileSync('lscpu', { encoding: 'utf8' });
    cpu = /^Model name:\s*(.+)$/m.exec(lscpu)?.[1]?.trim() ?? cpu;
  } catch {
    // lscpu is missing: keep Node's idea of the model.
  }
  return { cpu, cores: cpus().length, node: process.version, date: new Date().toISOString() };
}

export function machineLine(m: Machine): string {
  return `Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}; ${m.date}`;
}

/**
 * How busy the CPUs are over one second, in % of all cores: taken while the
 * bench runs nothing, it is other work on the machine that skews the numbers.
 */
export async function busyPercent(): Promise<number> {
  const before = cpuTimes();
  await sleep(1_000);
  const after = cpuTimes();
  const total = after.total - before.total;
  return total > 0 ? (100 * (total - (after.idle - before.idle))) / total : 0;
}

function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/) ?? [];
  const ticks = fields.slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are idle.
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { idle, total: ticks.slice(0, 8).reduce((sum, t) => sum + t, 0) };
}

export function backgroundLine(before: number, after: number): string {
  const noisy = Math.max(before, after) > 10 ? ' (other work was running: numbers are noisy)' : '';
  const [b, a] = [before.toFixed(0), after.toFixed(0)];
  return `CPU busy with other work while the bench was idle: ${b}% before, ${a}% after${noisy}`;
}

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((row) => row.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  // The first column is a label, left-aligned; the others are numbers.
  const pad = (cell: string, i: number) =>
    i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0);
  const line = (row: string[]) => `| ${row.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`;
  return [line(head), rule, ...cells.slice(1).map(line)].join('\n');
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;

export function contendersReport(
  section: ContenderSection,
  machine: Machine,
  options: BenchOptions,
): string {
  const { connections, durationS, warmupS, fixedRateS } = options;
  const rows = section.rows.map((r) => [
    `(${r.id}) ${r.name}`,
    n0(r.rps),
    ms(r.p50_ms),
    ms(r.p99_ms),
    ms(r.p999_ms),
    r.ratio.toFixed(2),
    r.errors,
  ]);
  const { addedLatency: a } = section;
  const latency = table(
    ['fixed rate (autocannon)', 'achieved/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors'],
    [
      ['(a) upstream direct', n0(a.direct.achieved_rps), ...latencies(a.direct), a.direct.errors],
      [
        '(d) tollgate, jwt-auth',
        n0(a.gateway.achieved_rps),
        ...latencies(a.gateway),
        a.gateway.errors,
      ],
    ],
  );
  return [
    '## Throughput (server on core 0; wrk and the upstream on core 1)',
    machineLine(machine),
    `wrk -t1 -c${connections}, ${durationS} s per run after ${warmupS} s of warm-up; ` +
      'the median of 2 runs alternated across the contenders',
    '',
    table(['contender', 'requests/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'vs nginx', 'errors'], rows),
    '',
    `## Added latency at ${n0(a.rate)} requests/s (half of (d)'s peak)`,
    `autocannon overallRate over 20 staggered one-connection streams, ${fixedRateS} s per run; ` +
      'the median of 2 alternated runs',
    '',
    latency,
    '',
    `p99 added by Tollgate with jwt-auth: ${ms(a.added_p99_ms)} ms`,
    ...(section.soak ? ['', soakReport(section.soak)] : []),
  ].join('\n');
}

function latencies(r: { p50_ms: number; p99_ms: number; p999_ms: number }): string[] {
  return [ms(r.p50_ms), ms(r.p99_ms), ms(r.p999_ms)];
}

function soakReport(s: SoakResult): string {
  return [
    `## Soak: ${n0(s.rate)} requests/s (70% of peak) for ${s.minutes} min against (d)`,
    table(
      ['achieved/s', 'errors', 'p99 ms', 'RSS first min MiB', 'RSS last min MiB', 'RSS growth'],
      [
        [
          n0(s.load.achieved_rps),
          s.load.errors,
          ms(s.load.p99_ms),
          s.rss_first_mib.toFixed(1),
          s.rss_last_mib.toFixed(1),
          pct(s.rss_growth_pct),
        ],
      ],
    ),
  ].join('\n');
}

export function propagationReport(p: PropagationResult): string {
  return [
    `## Config propagation: 1 control plane, ${p.data_planes} data planes, ${p.writes} writes`,
    table(
      ['write → enforced on every node', 'p50 ms', 'p99 ms', 'max ms'],
      [['Admin API PUT /routes', ms(p.p50_ms), ms(p.p99_ms), ms(p.max_ms)]],
    ),
  ].join('\n');
}

export function scaleReport(
  admin: AdminRoutesResult,
  etcd: EtcdRoutesResult,
  consumers: ConsumersResult,
): string {
  return [
    '## Scale: routes through the Admin API (tollgate, no plugins)',
    'two instances on core 0 measured in turns; the median of 2 runs each',
    '',
    table(
      ['routes', 'requests/s', 'p99 ms'],
      [admin.few, admin.many].map((x) => [n0(x.routes), n0(x.peak.rps), ms(x.peak.p99_ms)]),
    ),
    '',
    `difference: ${pct(admin.diff_pct)}; Admin API writes: ${n0(admin.admin_writes_per_s)}/s`,
    '',
    `## Scale: ${n0(etcd.routes)} routes in etcd, one data plane`,
    'throughput with and without changes measured in turns; the median of 2 runs each',
    '',
    table(
      ['measure', 'value'],
      [
        ['etcd writes (s)', etcd.write_s.toFixed(1)],
        ['cold sync, start → /readyz 200 (ms)', n0(etcd.cold_sync_ms)],
        [
          `route change → enforced, median of ${etcd.enforce_samples_ms.length} (ms)`,
          ms(etcd.enforce_median_ms),
        ],
        ['requests/s, no changes', n0(etcd.quiet.rps)],
        [
          `requests/s, a route change every 500 ms (${etcd.changes} changes)`,
          n0(etcd.changing.rps),
        ],
        ['difference', pct(etcd.diff_pct)],
      ],
    ),
    '',
    `## Scale: ${n0(consumers.consumers)} jwt-auth consumers in etcd, one data plane`,
    table(
      ['data plane', 'cold sync ms', 'RSS MiB'],
      [
        [
          `${n0(consumers.consumers)} consumers`,
          n0(consumers.cold_sync_ms),
          consumers.rss_mib.toFixed(1),
        ],
        ['empty prefix', n0(consumers.empty_cold_sync_ms), consumers.empty_rss_mib.toFixed(1)],
      ],
    ),
    '',
    `etcd writes: ${consumers.write_s.toFixed(1)} s`,
  ].join('\n');
}
