/**
 * Runs examples/tutorial.sh, the tutorial's steps as curl calls, against the
 * two ways Tollgate is deployed: one `npm start` process on the embedded
 * store, and etcd with a control plane and two data-plane nodes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import got from 'got';

import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { eventually } from '../helpers/data-plane.js';
import { closedPort } from '../helpers/upstream.js';

interface Proc {
  child: ChildProcess;
  output(): string;
}

function run(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, TOLLGATE_ACCESS_LOG: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out };
}

function stop(proc: Proc): Promise<void> {
  return new Promise((resolve) => {
    if (proc.child.exitCode !== null) {
      resolve();
      return;
    }
    proc.child.once('exit', () => resolve());
    proc.child.kill('SIGTERM');
  });
}

async function ready(statusPort: number): Promise<void> {
  await eventually(async () => {
    const res = await got(`http://127.0.0.1:${statusPort}/readyz`, {
      throwHttpErrors: false,
    }).catch(() => undefined);
    return res?.statusCode === 200;
  }, 30_000);
}

function tutorial(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn('bash', ['examples/tutorial.sh'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('the tutorial in examples/', function () {
  this.timeout(120_000);
  const procs: Proc[] = [];
  let upstreamPort: number;
  let dir: string;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-tutorial-'));
    upstreamPort = await closedPort();
    procs.push(run(['examples/mock-upstream.mjs', String(upstreamPort)], {}));
  });
  afterEach(async function () {
    for (const p of procs.splice(0).reverse()) {
      await stop(p);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('should run end to end against npm start on the embedded store', async function () {
    const [admin, gateway, status] = [await closedPort(), await closedPort(), await closedPort()];
    procs.push(
      run(['--import', 'tsx', 'bin/tollgate.ts', 'all'], {
        TOLLGATE_DATA_DIR: dir,
        TOLLGATE_ADMIN_LISTEN: `127.0.0.1:${admin}`,
        TOLLGATE_GATEWAY_LISTEN: `127.0.0.1:${gateway}`,
        TOLLGATE_STATUS_LISTEN: `127.0.0.1:${status}`,
      }),
    );
    await ready(status);

    const result = await tutorial({
      ADMIN_URL: `http://127.0.0.1:${admin}`,
      ADMIN_KEY: readFileSync(join(dir, 'admin.key'), 'utf8').trim(),
      GATEWAY_URLS: `http://127.0.0.1:${gateway}`,
      UPSTREAM_NODE: `127.0.0.1:${upstreamPort}`,
    });
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /200 \{"origin":"127\.0\.0\.1"\}/);
    assert.match(result.output, /ran end to end on 1 node/);
  });

  describe('on a cluster', function () {
    let etcd: TestEtcd;
    before(async function () {
      etcd = await startTestEtcd();
    });
    after(async function () {
      await etcd.stop();
    });

    it('should run end to end on etcd, a control plane and two data planes', async function () {
      const adminKey = randomBytes(24).toString('base64url');
      const shared = {
        TOLLGATE_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        TOLLGATE_ETCD_PREFIX: uniquePrefix('tutorial'),
        TOLLGATE_KEYRING: `k1:${randomBytes(32).toString('base64')}`,
        TOLLGATE_ADMIN_KEY: adminKey,
        TOLLGATE_WORKERS: '1',
        TOLLGATE_DATA_DIR: dir,
      };
      const admin = await closedPort();
      procs.push(
        run(['--import', 'tsx', 'bin/tollgate.ts', 'control-plane'], {
          ...shared,
          TOLLGATE_ADMIN_LISTEN: `127.0.0.1:${admin}`,
        }),
      );
      const gateways: string[] = [];
      for (let i = 0; i < 2; i++) {
        const [port, status] = [await closedPort(), await closedPort()];
        procs.push(
          run(['--import', 'tsx', 'bin/tollgate.ts', 'data-plane'], {
            ...shared,
            TOLLGATE_GATEWAY_LISTEN: `127.0.0.1:${port}`,
            TOLLGATE_STATUS_LISTEN: `127.0.0.1:${status}`,
          }),
        );
        await ready(status);
        gateways.push(`http://127.0.0.1:${port}`);
      }
      await eventually(async () => {
        const res = await got(`http://127.0.0.1:${admin}/apisix/admin/routes`, {
          headers: { 'x-api-key': adminKey },
          throwHttpErrors: false,
        }).catch(() => undefined);
        return res?.statusCode === 200;
      }, 30_000);

      const result = await tutorial({
        ADMIN_URL: `http://127.0.0.1:${admin}`,
        ADMIN_KEY: adminKey,
        GATEWAY_URLS: gateways.join(','),
        UPSTREAM_NODE: `127.0.0.1:${upstreamPort}`,
      });
      assert.equal(result.code, 0, result.output + procs.map((p) => p.output()).join('\n'));
      assert.match(result.output, /ran end to end on 2 node/);
      assert.equal((result.output.match(/200 \{"origin"/g) ?? []).length >= 2, true);
    });
  });
});
