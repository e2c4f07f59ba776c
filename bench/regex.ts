/**
 * Matches per second of route `vars` regexes: JavaScript's RegExp against
 * the RE2 port the router uses (shared/safe-regex.ts), for typical patterns
 * and for one that makes a backtracking engine take exponential time. Run
 * on one core:
 *
 *   taskset -c 0 node --import tsx bench/regex.ts
 */
import { compileSafeRegex } from '../shared/safe-regex.js';

const DURATION_MS = Number(process.env.BENCH_MS ?? 1000);

function perSecond(fn: () => boolean): number {
  for (let i = 0; i < 10_000; i++) {
    fn();
  }
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 1000; i++) {
      fn();
    }
    n += 1000;
  }
  return Math.round((n * 1000) / (performance.now() - start));
}

/** Milliseconds one match takes. */
function oneMatchMs(pattern: RegExp, input: string): number {
  const start = performance.now();
  pattern.test(input);
  return performance.now() - start;
}

const CASES: { name: string; pattern: string; input: string; ignoreCase?: boolean }[] = [
  {
    name: '`^/api/v[0-9]+/`, a match',
    pattern: '^/api/v[0-9]+/',
    input: '/api/v2/orders/12345/items?page=1',
  },
  {
    name: '`^/api/v[0-9]+/`, a miss',
    pattern: '^/api/v[0-9]+/',
    input: '/static/css/app.min.css?v=1234567',
  },
  {
    name: '`~*` `bot`, a browser user agent',
    pattern: 'bot',
    input: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36',
    ignoreCase: true,
  },
];

function main(): void {
  const rows: string[] = [];
  for (const c of CASES) {
    const native = new RegExp(c.pattern, c.ignoreCase ? 'i' : '');
    const safe = compileSafeRegex(c.pattern, c.ignoreCase);
    if (native.test(c.input) !== safe.test(c.input)) {
      throw new Error(`the engines disagree on ${c.name}`);
    }
    const a = perSecond(() => native.test(c.input));
    const b = perSecond(() => safe.test(c.input));
    rows.push(`| ${c.name} | ${a.toLocaleString('en-US')} | ${b.toLocaleString('en-US')} |`);
  }
  const hostile = `${'1'.repeat(24)}-`;
  const pattern = '(\\w|\\d)+$';
  const backtracking = oneMatchMs(new RegExp(pattern), hostile);
  const compiled = compileSafeRegex(pattern);
  const safe = perSecond(() => compiled.test(hostile) || true);
  rows.push(
    `| \`${pattern.replace(/\|/g, '\\|')}\` on 24 digits and a dash | one match took ${backtracking.toFixed(0)} ms | ` +
      `${safe.toLocaleString('en-US')} |`,
  );

  console.log('| pattern and input | RegExp matches/s | re2js matches/s |');
  console.log('| ----------------- | ---------------: | --------------: |');
  for (const row of rows) {
    console.log(row);
  }
}

main();
