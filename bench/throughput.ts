/**
 * The contenders side by side: each server pinned to core 0, wrk and the
 * upstream on core 1. Two measured runs alternated across the contenders,
 * the median of the two quoted; then the latency Tollgate with jwt-auth adds
 * at half of its peak, and the soak when asked for.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';

import type { Child, Lab } from './lab.js';
import { alternate, checkErrors, measurePeak, medianOf, runFixedRate, RUNS } from './load.js';
import type { FixedRateResult, LoadResult, Measured } from './load.js';
import type { BenchOptions } from './options.js';
import { startNginxProxy, startPeerProxy, startUpstream } from './servers.js';
import { runSoak } from './soak.js';
import type { SoakResult } from './soak.js';
import { median } from './stats.js';
import { configureIpRoute, issueToken, startTollgate, waitForUpstreamAnswer } from './tollgate.js';

export const SERVER_CPUS = '0';

export interface Contender {
  id: string;
  name: string;
  url: string;
  headers: Record<string, string>;
  child: Child;
}

export interface ContenderRow extends LoadResult {
  id: string;
  name: string;
  ratio: number;
  runs: LoadResult[];
}

export interface AddedLatency {
  rate: number;
  direct: FixedRateResult;
  gateway: FixedRateResult;
  added_p99_ms: number;
  runs: { direct: FixedRateResult[]; gateway: FixedRateResult[] };
}

export interface ContenderSection {
  rows: ContenderRow[];
  addedLatency: AddedLatency;
  soak?: SoakResult;
}

export async function benchContenders(
  lab: Lab,
  options: BenchOptions,
  upstreamPort: number,
): Promise<ContenderSection> {
  const contenders = await startContenders(lab, upstreamPort);
  try {
    const rows = await measureRounds(contenders, options);
    checkAccessLog(lab);
    const [direct, jwt] = [byId(contenders, 'a'), byId(contenders, 'd')];
    const peak = byId(rows, 'd').rps;
    const addedLatency = await measureAddedLatency(direct, jwt, peak, options.fixedRateS);
    const soak =
      options.soakMinutes > 0 ? await runSoak(jwt, 0.7 * peak, options.soakMinutes) : undefined;
    return { rows, addedLatency, ...(soak && { soak }) };
  } finally {
    await Promise.all(contenders.map((contender) => lab.stop(contender.child)));
  }
}

async function startContenders(lab: Lab, upstreamPort: number): Promise<Contender[]> {
  const cpus = SERVER_CPUS;
  const path = '/ip';
  const direct = await startUpstream(lab, 'upstream-direct', cpus);
  const nginx = await startNginxProxy(lab, cpus, upstreamPort);
  const peer = await startPeerProxy(lab, cpus, upstreamPort);

  const plain = await startTollgate(lab, 'tollgate-plain', { mode: 'all', cpus });
  await configureIpRoute(plain, upstreamPort, false);
  await waitForUpstreamAnswer(plain, path);

  const withJwt = async (name: string, accessLogPath?: string) => {
    const node = await startTollgate(lab, name, { mode: 'all', cpus, accessLogPath });
    await configureIpRoute(node, upstreamPort, true);
    const headers = { Authorization: await issueToken(node) };
    await waitForUpstreamAnswer(node, path, headers);
    return { node, headers };
  };
  const jwt = await withJwt('tollgate-jwt');
  const logged = await withJwt('tollgate-jwt-log', join(lab.dir, 'access.log'));

  const none = {};
  return [
    {
      id: 'a',
      name: 'upstream direct (nginx)',
      url: direct.url,
      headers: none,
      child: direct.child,
    },
    { id: 'b', name: 'nginx proxy_pass', url: nginx.url, headers: none, child: nginx.child },
    {
      id: 'c',
      name: 'tollgate, no plugins',
      url: plain.gateway,
      headers: none,
      child: plain.child,
    },
    {
      id: 'd',
      name: 'tollgate, jwt-auth',
      url: jwt.node.gateway,
      headers: jwt.headers,
      child: jwt.node.child,
    },
    {
      id: 'e',
      name: 'tollgate, jwt-auth + access log',
      url: logged.node.gateway,
      headers: logged.headers,
      child: logged.node.child,
    },
    { id: 'f', name: 'node http-proxy', url: peer.url, headers: none, child: peer.child },
  ].map((contender) => ({ ...contender, url: contender.url + path }));
}

async function measureRounds(contenders: Contender[], options: BenchOptions) {
  const measured = await alternate(
    contenders.map((c) => () => measurePeak(c.name, c.url, c.headers, options)),
  );
  const rows = contenders.map((c, i) => ({ id: c.id, name: c.name, ...(measured[i] as Measured) }));
  const reference = byId(rows, 'b').rps;
  return rows.map((row) => ({ ...row, ratio: row.rps / reference }));
}

/** The access-log contender must really have written its log. */
function checkAccessLog(lab: Lab): void {
  const size = statSync(join(lab.dir, 'access.log'), { throwIfNoEntry: false })?.size ?? 0;
  if (size === 0) {
    throw new Error('the access-log contender wrote no access log');
  }
}

async function measureAddedLatency(
  direct: Contender,
  gateway: Contender,
  peak: number,
  durationS: number,
): Promise<AddedLatency> {
  const rate = Math.max(1, Math.round(peak / 2));
  const runs: [FixedRateResult[], FixedRateResult[]] = [[], []];
  for (let round = 1; round <= RUNS; round++) {
    for (const [i, contender] of [direct, gateway].entries()) {
      const { url, headers } = contender;
      const result = await runFixedRate({ url, headers, rate, durationS });
      checkErrors(`fixed rate, ${contender.name}`, result);
      runs[i]?.push(result);
    }
  }

  const [directResult, gatewayResult] = runs.map((results) => ({
    ...medianOf(results),
    rate,
    achieved_rps: median(results.map((r) => r.achieved_rps)),
  })) as [FixedRateResult, FixedRateResult];
  return {
    rate,
    direct: directResult,
    gateway: gatewayResult,
    added_p99_ms: gatewayResult.p99_ms - directResult.p99_ms,
    runs: { direct: runs[0], gateway: runs[1] },
  };
}

function byId<T extends { id: string }>(items: T[], id: string): T {
  const item = items.find((candidate) => candidate.id === id);
  if (item === undefined) {
    throw new Error(`no contender ${id}`);
  }
  return item;
}
