/**
 * What one bench run does: the full defaults, `--quick` for CI (a few
 * seconds per contender, smaller scale numbers, no soak), and the switches
 * that override single settings.
 */

export interface BenchOptions {
  quick: boolean;
  /** wrk seconds per contender per run. */
  durationS: number;
  /** wrk seconds of warm-up before each measured run. */
  warmupS: number;
  /** wrk connections. */
  connections: number;
  /** Seconds of each fixed-rate latency run. */
  fixedRateS: number;
  /** Admin API writes timed across the cluster. */
  propagationWrites: number;
  /** Routes written through the Admin API for the many-routes throughput. */
  adminRoutes: number;
  /** Routes written straight into etcd behind one data plane. */
  etcdRoutes: number;
  /** Route changes timed to enforcement on the etcd-routes data plane. */
  enforceSamples: number;
  /** Consumers written straight into etcd for the cold-sync test. */
  consumers: number;
  /** Minutes of soak at 70% of peak; 0 skips it. */
  soakMinutes: number;
}

const FULL: BenchOptions = {
  quick: false,
  durationS: 10,
  warmupS: 3,
  connections: 64,
  fixedRateS: 10,
  propagationWrites: 200,
  adminRoutes: 10_000,
  etcdRoutes: 100_000,
  enforceSamples: 20,
  consumers: 100_000,
  soakMinutes: 0,
};

const QUICK: BenchOptions = {
  ...FULL,
  quick: true,
  durationS: 2,
  warmupS: 1,
  fixedRateS: 2,
  propagationWrites: 20,
  adminRoutes: 1_000,
  etcdRoutes: 1_000,
  enforceSamples: 5,
  consumers: 2_000,
};

const DEFAULT_SOAK_MINUTES = 10;

export const USAGE = `usage: npm run bench -- [--quick] [--soak] [--soak-minutes N] [--duration S]
  --quick            a few seconds per contender and small scale numbers (CI)
  --soak             add the 10-minute soak at 70% of peak (not with --quick)
  --soak-minutes N   the soak's length in minutes (implies --soak)
  --duration S       wrk seconds per contender per run`;

export function parseOptions(argv: readonly string[]): BenchOptions {
  const options = { ...(argv.includes('--quick') ? QUICK : FULL) };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '--quick':
        break;
      case '--soak':
        if (options.soakMinutes === 0) {
          options.soakMinutes = DEFAULT_SOAK_MINUTES;
        }
        break;
      case '--soak-minutes':
        options.soakMinutes = positive(arg, argv[++i]);
        break;
      case '--duration':
        options.durationS = positive(arg, argv[++i]);
        break;
      default:
        throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  if (options.quick && options.soakMinutes > 0) {
    throw new Error('--soak cannot be combined with --quick');
  }
  return options;
}

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`${name} must be a positive number, got ${value ?? 'nothing'}`);
  }
  return n;
}
