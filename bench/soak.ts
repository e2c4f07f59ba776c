/**
 * The soak: a fixed rate against Tollgate with jwt-auth for minutes, its
 * resident memory sampled every 10 s; growth compares the first minute's
 * samples with the last minute's.
 */
import { rssMiB } from './lab.js';
import { runFixedRate } from './load.js';
import type { FixedRateResult } from './load.js';

const SAMPLE_EVERY_MS = 10_000;
const WINDOW_S = 60;

interface Target {
  url: string;
  headers: Record<string, string>;
  child: { pid: number };
}

export interface SoakResult {
  minutes: number;
  rate: number;
  load: FixedRateResult;
  rss_first_mib: number;
  rss_last_mib: number;
  rss_growth_pct: number;
  samples: { t_s: number; rss_mib: number }[];
}

export async function runSoak(target: Target, rate: number, minutes: number): Promise<SoakResult> {
  const durationS = Math.round(minutes * 60);
  console.error(`  soak: ${Math.round(rate)} requests/s for ${minutes} min`);
  const samples: { t_s: number; rss_mib: number }[] = [];
  const start = performance.now();
  const sample = () => {
    const t_s = (performance.now() - start) / 1000;
    samples.push({ t_s: Math.round(t_s), rss_mib: rssMiB(target.child.pid) });
  };

  // The first sample is 10 s in: an idle gateway's memory is not the soak's.
  const timer = setInterval(sample, SAMPLE_EVERY_MS);
  let load: FixedRateResult;
  try {
    const job = { url: target.url, headers: target.headers, durationS };
    load = await runFixedRate({ ...job, rate: Math.round(rate) });
  } finally {
    clearInterval(timer);
  }
  sample();

  // Shorter soaks compare their first and last halves.
  const window = Math.min(WINDOW_S, durationS / 2);
  const first = average(samples.filter((s) => s.t_s <= window));
  const last = average(samples.filter((s) => s.t_s >= durationS - window));
  return {
    minutes,
    rate: Math.round(rate),
    load,
    rss_first_mib: first,
    rss_last_mib: last,
    rss_growth_pct: ((last - first) / first) * 100,
    samples,
  };
}

function average(samples: { rss_mib: number }[]): number {
  return samples.reduce((sum, s) => sum + s.rss_mib, 0) / Math.max(samples.length, 1);
}
