/**
 * A fixed request rate with autocannon's `overallRate`, run as a child
 * process so that it can be pinned to the load generator's core:
 *
 *   node --import tsx bench/fixed-rate.ts '{"url": ..., "rate": ..., "durationS": ...}'
 *
 * autocannon gives each connection a per-second quota that it sends
 * back-to-back at the start of every second, so one connection at the whole
 * rate would be a burst at full speed followed by silence. To spread the
 * load, the rate is split over `streams` (default 20) single-connection instances whose
 * seconds start staggered across the second. Latencies are taken from every
 * response in microseconds (autocannon's own histogram has a 1 ms floor).
 * Prints one line: `FIXED_RATE_JSON {...}`.
 */
import { createHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import autocannon from 'autocannon';

interface Job {
  url: string;
  rate: number;
  durationS: number;
  headers?: Record<string, string>;
  /** Single-connection autocannon instances the rate is split over. */
  streams?: number;
}

const DEFAULT_STREAMS = 20;

async function main(job: Job): Promise<void> {
  const latencyUs = createHistogram();
  let ok = 0;
  let non2xx = 0;
  let errors = 0;

  const streams = job.streams ?? DEFAULT_STREAMS;
  const runStream = async (index: number, rate: number) => {
    await sleep((index * 1000) / streams);
    const options = {
      url: job.url,
      headers: job.headers ?? {},
      connections: 1,
      overallRate: rate,
      duration: job.durationS,
    };
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(options, (err, done) => (err ? reject(err) : resolve(done)));
      instance.on('response', (_client, statusCode, _bytes, responseTime) => {
        latencyUs.record(Math.max(1, Math.round(responseTime * 1000)));
        if (statusCode >= 200 && statusCode < 300) {
          ok++;
        } else {
          non2xx++;
        }
      });
    });
    errors += result.errors + result.timeouts;
  };

  const rates = split(job.rate, streams);
  await Promise.all(rates.map((rate, index) => runStream(index, rate)));

  const ms = (p: number) => latencyUs.percentile(p) / 1000;
  const report = {
    rate: job.rate,
    achieved_rps: ok / job.durationS,
    requests: ok + non2xx,
    errors: errors + non2xx,
    p50_ms: ms(50),
    p99_ms: ms(99),
    p999_ms: ms(99.9),
  };
  console.log(`FIXED_RATE_JSON ${JSON.stringify(report)}`);
}

/** `total` as `parts` whole numbers that add up to it. */
function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0)).filter(
    (rate) => rate > 0,
  );
}

main(JSON.parse(process.argv[2] ?? '{}') as Job).catch((err: unknown) => {
  console.error(`fixed-rate: ${(err as Error).message}`);
  process.exit(1);
});
