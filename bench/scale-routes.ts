/**
 * Many routes through the Admin API: Tollgate's no-plugin throughput with 10
 * routes against an instance holding thousands more, both on the server
 * core, measured in turns.
 */
import { inParallel } from './http.js';
import type { Lab } from './lab.js';
import { alternate, measurePeak } from './load.js';
import type { Measured } from './load.js';
import type { BenchOptions } from './options.js';
import { SERVER_CPUS } from './throughput.js';
import { configureIpRoute, startTollgate, upstreamOf, waitForCount } from './tollgate.js';
import type { Tollgate } from './tollgate.js';

const FEW_ROUTES = 10;
const ADMIN_CONCURRENCY = 32;
const SYNC_TIMEOUT_MS = 300_000;

export interface AdminRoutesResult {
  few: { routes: number; peak: Measured };
  many: { routes: number; peak: Measured };
  diff_pct: number;
  admin_writes_per_s: number;
}

export async function benchAdminRoutes(
  lab: Lab,
  options: BenchOptions,
  upstreamPort: number,
): Promise<AdminRoutesResult> {
  const start = (name: string) => startTollgate(lab, name, { mode: 'all', cpus: SERVER_CPUS });
  const [few, many] = [await start('scale-few-routes'), await start('scale-many-routes')];
  try {
    for (const node of [few, many]) {
      await configureIpRoute(node, upstreamPort, false);
      await putRoutes(node, upstreamPort, 0, FEW_ROUTES - 1);
    }
    const writeStart = performance.now();
    await putRoutes(many, upstreamPort, FEW_ROUTES - 1, options.adminRoutes - 1);
    const writeS = (performance.now() - writeStart) / 1000;
    await waitForCount(few, 'routes', FEW_ROUTES, SYNC_TIMEOUT_MS);
    await waitForCount(many, 'routes', options.adminRoutes, SYNC_TIMEOUT_MS);

    const peak = (node: Tollgate, routes: number) => () =>
      measurePeak(`${routes} routes`, `${node.gateway}/ip`, {}, options);
    const [fewPeak, manyPeak] = (await alternate([
      peak(few, FEW_ROUTES),
      peak(many, options.adminRoutes),
    ])) as [Measured, Measured];
    return {
      few: { routes: FEW_ROUTES, peak: fewPeak },
      many: { routes: options.adminRoutes, peak: manyPeak },
      diff_pct: ((manyPeak.rps - fewPeak.rps) / fewPeak.rps) * 100,
      admin_writes_per_s: (options.adminRoutes - FEW_ROUTES) / writeS,
    };
  } finally {
    await Promise.all([few, many].map((node) => lab.stop(node.child)));
  }
}

/** Routes r<from> to r<to - 1> on /r/<i>, written through the Admin API in parallel. */
async function putRoutes(node: Tollgate, upstreamPort: number, from: number, to: number) {
  const ids = Array.from({ length: to - from }, (_, i) => from + i);
  const upstream = upstreamOf(upstreamPort);
  await inParallel(ids, ADMIN_CONCURRENCY, (i) =>
    node.admin.put(`/routes/r${i}`, { uri: `/r/${i}`, upstream }),
  );
}
