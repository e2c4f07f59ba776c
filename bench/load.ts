/**
 * Load generators, pinned to the load generator's core: wrk for peak
 * throughput (its Lua script prints one JSON line at the end) and
 * bench/fixed-rate.ts (autocannon) for a fixed request rate.
 */
import { execFile } from 'node:child_process';
import type { ExecFileOptions } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { killOnExit } from './lab.js';
import { median } from './stats.js';

const execFileAsync = promisify(execFile);

/** execFile, its child killed should the bench exit first. */
function run(file: string, args: string[], options: ExecFileOptions) {
  const pending = execFileAsync(file, args, { ...options, encoding: 'utf8' });
  killOnExit(pending.child);
  return pending;
}

/** The load generator's core: core 1, or core 0 shared with the server on a one-core machine. */
export const LOAD_CPUS = cpus().length > 1 ? '1' : '0';
/** Extra seconds a load run may take past its own duration before it is killed. */
const SLACK_S = 30;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface LoadResult {
  rps: number;
  requests: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
}

export interface WrkJob {
  url: string;
  durationS: number;
  connections: number;
  headers?: Record<string, string>;
}

export async function runWrk(job: WrkJob): Promise<LoadResult> {
  const script = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));
  const headers = Object.entries(job.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = [
    ...['-c', LOAD_CPUS, 'wrk', '-t1', `-c${job.connections}`, `-d${job.durationS}s`],
    ...['-s', script, ...headers, job.url],
  ];
  const { stdout } = await run('taskset', args, { timeout: (job.durationS + SLACK_S) * 1000 });
  return parseLine<LoadResult>(stdout, 'BENCH_JSON ', 'wrk');
}

/** A load run whose errors pass this share of its requests fails the bench. */
const MAX_ERROR_SHARE = 0.01;

/** Peak throughput: a warm-up run, then the measured one, which must be (almost) error-free. */
export async function measurePeak(
  what: string,
  url: string,
  headers: Record<string, string>,
  options: { connections: number; warmupS: number; durationS: number },
): Promise<LoadResult> {
  const { connections } = options;
  await runWrk({ url, headers, connections, durationS: options.warmupS });
  const result = await runWrk({ url, headers, connections, durationS: options.durationS });
  checkErrors(what, result);
  console.error(`  ${what}: ${Math.round(result.rps)} requests/s`);
  return result;
}

export const RUNS = 2;

export interface Measured extends LoadResult {
  runs: LoadResult[];
}

/** Each measurement RUNS times, taking turns, and the median of each one's runs. */
export async function alternate(measures: (() => Promise<LoadResult>)[]): Promise<Measured[]> {
  const runs = measures.map((): LoadResult[] => []);
  for (let round = 1; round <= RUNS; round++) {
    for (const [i, measure] of measures.entries()) {
      runs[i]?.push(await measure());
    }
  }
  return runs.map((results) => ({ ...medianOf(results), runs: results }));
}

export function medianOf(results: LoadResult[]): LoadResult {
  const pick = (key: keyof LoadResult) => median(results.map((r) => r[key]));
  return {
    rps: pick('rps'),
    requests: pick('requests'),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    p50_ms: pick('p50_ms'),
    p99_ms: pick('p99_ms'),
    p999_ms: pick('p999_ms'),
  };
}

export function checkErrors(what: string, result: LoadResult): void {
  if (result.errors > MAX_ERROR_SHARE * Math.max(result.requests, 1)) {
    throw new Error(`${what}: ${result.errors} errors in ${result.requests} requests`);
  }
}

export interface FixedRateJob {
  url: string;
  rate: number;
  durationS: number;
  headers?: Record<string, string>;
  /** Single-connection autocannon instances the rate is split over (bench/fixed-rate.ts). */
  streams?: number;
}

export interface FixedRateResult extends LoadResult {
  rate: number;
  achieved_rps: number;
}

export async function runFixedRate(job: FixedRateJob): Promise<FixedRateResult> {
  const script = fileURLToPath(new URL('./fixed-rate.ts', import.meta.url));
  const args = ['-c', LOAD_CPUS, process.execPath, '--import', 'tsx', script, JSON.stringify(job)];
  const timeout = (job.durationS + SLACK_S) * 1000;
  const { stdout } = await run('taskset', args, { cwd: ROOT, timeout, maxBuffer: 1 << 20 });
  const result = parseLine<FixedRateResult>(stdout, 'FIXED_RATE_JSON ', 'fixed-rate');
  return { ...result, rps: result.achieved_rps };
}

function parseLine<T>(stdout: string, marker: string, tool: string): T {
  const line = stdout.split('\n').find((l) => l.startsWith(marker));
  if (line === undefined) {
    throw new Error(`${tool} printed no result line:\n${stdout.slice(-1000)}`);
  }
  return JSON.parse(line.slice(marker.length)) as T;
}
