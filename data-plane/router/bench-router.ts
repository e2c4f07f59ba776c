/**
 * Micro-benchmark of the router: match throughput at 10, 10,000 and 100,000
 * routes, and the cost of one upsert or remove among 100,000. Timings live
 * here, never in tests. Run: node --import tsx data-plane/router/bench-router.ts
 */

import { performance } from 'node:perf_hooks';

import { normalizeTarget } from './path.js';
import type { RequestInfo, RouteSpec } from './router.js';
import { Router } from './router.js';

const MATCHES = 1_000_000;
const CHANGES = 20_000;

// A mix of shapes a real gateway holds: exact, parameter, prefix, and a
// quarter of the routes bound to their own host.
function spec(i: number): RouteSpec<number> {
  const base = { id: `r${i}`, priority: 0, value: i };
  switch (i % 4) {
    case 0:
      return { ...base, uris: [`/svc${i}/items`], methods: ['GET', 'POST'] };
    case 1:
      return { ...base, uris: [`/svc${i}/items/:item`] };
    case 2:
      return { ...base, uris: [`/svc${i}/static/*`], vars: [['arg_v', '~=', 'old']] };
    default:
      return { ...base, uris: [`/api/v1/t${i}`], hosts: [`h${i}.example.com`] };
  }
}

function requestFor(i: number): RequestInfo {
  const paths = [`/svc${i}/items`, `/svc${i}/items/abc`, `/svc${i}/static/a/b.js`];
  return {
    path: paths[i % 4] ?? `/api/v1/t${i}`,
    method: 'GET',
    host: i % 4 === 3 ? `h${i}.example.com:9080` : 'gw.example.com',
    remoteAddr: '10.0.0.1',
    getVar: () => undefined,
  };
}

function build(count: number): Router<number> {
  const router = new Router<number>();
  for (let i = 0; i < count; i++) {
    router.upsert(spec(i));
  }
  return router;
}

// `spread` is how many distinct routes the requests hit: with few, the
// touched nodes stay in CPU cache whatever the table size, which separates
// the cost of the algorithm from the cost of memory.
function benchMatch(count: number, spread = count): void {
  const router = build(count);
  const requests = Array.from({ length: 1024 }, (_, k) => requestFor((k * 7919) % spread));
  let found = 0;
  const start = performance.now();
  for (let n = 0; n < MATCHES; n++) {
    found += router.match(requests[n & 1023] as RequestInfo) === undefined ? 0 : 1;
  }
  const ms = performance.now() - start;

  if (found !== MATCHES) {
    throw new Error(`expected every request to match, ${MATCHES - found} did not`);
  }
  const label = spread < count ? `, ${spread} hot` : '';
  report(`match, ${count} routes${label}`, MATCHES, ms);
}

// Times each change on its own: the mean hides garbage-collection pauses
// that the 99th percentile shows.
function benchChanges(count: number): void {
  const router = build(count);
  const upserts = timeEach(CHANGES, (n) => {
    router.upsert({ ...spec((n * 7919) % count), uris: [`/moved${n}/:x`] });
  });
  reportLatency(`upsert (replace), ${count} routes`, upserts);

  const removes = timeEach(CHANGES, (n) => router.remove(`r${(n * 7919) % count}`));
  reportLatency(`remove, ${count} routes`, removes);
}

function timeEach(times: number, run: (n: number) => void): number[] {
  const micros: number[] = [];
  for (let n = 0; n < times; n++) {
    const start = performance.now();
    run(n);
    micros.push((performance.now() - start) * 1000);
  }
  return micros.sort((a, b) => a - b);
}

function reportLatency(what: string, sorted: number[]): void {
  const at = (q: number): string => (sorted[Math.floor(q * (sorted.length - 1))] ?? 0).toFixed(1);
  const mean = (sorted.reduce((sum, x) => sum + x, 0) / sorted.length).toFixed(1);
  process.stdout.write(
    `${what.padEnd(34)} mean ${mean} µs  p50 ${at(0.5)} µs  p99 ${at(0.99)} µs  max ${at(1)} µs\n`,
  );
}

function benchNormalize(): void {
  const targets = ['/svc1/items?x=1', '/a/b/../c/%7euser', '//evil.com/%2e%2e/x'];
  const start = performance.now();
  for (let n = 0; n < MATCHES; n++) {
    normalizeTarget(targets[n % 3] as string);
  }
  report('normalizeTarget, mixed targets', MATCHES, performance.now() - start);
}

function report(what: string, operations: number, ms: number): void {
  const perSecond = Math.round((operations / ms) * 1000).toLocaleString('en-US');
  const micros = ((ms * 1000) / operations).toFixed(2);
  process.stdout.write(`${what.padEnd(34)} ${perSecond.padStart(12)} ops/s  ${micros} µs/op\n`);
}

for (const count of [10, 10_000, 100_000]) {
  benchMatch(count);
}
benchMatch(100_000, 10);
benchChanges(100_000);
benchNormalize();
