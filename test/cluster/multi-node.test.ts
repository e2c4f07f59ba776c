/**
 * The whole system as processes on loopback: a three-member etcd, one
 * control plane and three data planes, under node failures, an etcd outage
 * and a rolling restart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';

import got from 'got';

import { startEtcdCluster } from '../harness/etcd-cluster.js';
import type { EtcdCluster } from '../harness/etcd-cluster.js';
import { uniquePrefix } from '../harness/etcd.js';
import { eventually } from '../helpers/data-plane.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

interface Node {
  port: number;
  statusPort: number;
  proc?: ChildProcess;
}

/** One GET on a fresh connection; 'refused' when nothing listens. */
function get(port: number, path: string): Promise<number | 'refused' | 'error'> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve('error'));
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve(
        err.code === 'ECONNREFUSED' ? 'refused' : (`error ${err.code ?? err.message}` as 'error'),
      ),
    );
    req.setTimeout(5000, () => req.destroy());
    req.end();
  });
}

/**
 * Steady load over all nodes from a client that moves to the next node only
 * when a connection is refused. Counts every other outcome that is not 200.
 */
function load(nodes: Node[], path: string) {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const worker = async (offset: number) => {
    for (let i = offset; running; i++) {
      let outcome: number | 'refused' | 'error' = 'refused';
      for (let tries = 0; tries < nodes.length && outcome === 'refused'; tries++) {
        outcome = await get(nodes[(i + tries) % nodes.length]!.port, path);
      }
      if (outcome === 200) {
        ok++;
      } else {
        failures.push(String(outcome));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const workers = [0, 1, 2, 3].map((w) => worker(w));
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return { ok, failures };
    },
  };
}

describe('a cluster of one control plane and three data planes on three etcd members', function () {
  this.timeout(180_000);
  let etcd: EtcdCluster;
  let upstream: TestUpstream;
  let admin: ChildProcess;
  let adminUrl: string;
  const nodes: Node[] = [];
  const adminKey = randomBytes(24).toString('base64url');
  let env: Record<string, string>;

  function startNode(node: Node): void {
    node.proc = spawn(process.execPath, ['--import', 'tsx', 'bin/tollgate.ts', 'data-plane'], {
      env: {
        ...env,
        TOLLGATE_GATEWAY_LISTEN: `127.0.0.1:${node.port}`,
        TOLLGATE_STATUS_LISTEN: `127.0.0.1:${node.statusPort}`,
        TOLLGATE_DRAIN_MS: '5000',
      },
      stdio: 'ignore',
    });
  }

  function stopNode(node: Node, signal: NodeJS.Signals): Promise<void> {
    return new Promise((resolve) => {
      if (!node.proc || node.proc.exitCode !== null) {
        resolve();
        return;
      }
      node.proc.once('exit', () => resolve());
      node.proc.kill(signal);
    });
  }

  async function ready(node: Node): Promise<void> {
    await eventually(async () => {
      const res = await got(`http://127.0.0.1:${node.statusPort}/readyz`, {
        throwHttpErrors: false,
        retry: { limit: 0 },
      }).catch(() => undefined);
      return res?.statusCode === 200;
    }, 30_000);
  }

  async function write(path: string, body: unknown): Promise<void> {
    const res = await got.put(`${adminUrl}/apisix/admin${path}`, {
      json: body,
      headers: { 'x-api-key': adminKey },
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    assert.ok(res.statusCode < 300, `${path}: ${res.statusCode} ${res.body}`);
  }

  async function servedEverywhere(path: string, status = 200): Promise<void> {
    for (const node of nodes) {
      await eventually(async () => (await get(node.port, path)) === status, 10_000);
    }
  }

  before(async function () {
    etcd = await startEtcdCluster({ members: 3 });
    upstream = await startUpstream('a');
    env = {
      PATH: process.env.PATH ?? '',
      TOLLGATE_ETCD_ENDPOINTS: etcd.endpoints.join(','),
      TOLLGATE_ETCD_PREFIX: uniquePrefix('cluster'),
      TOLLGATE_ADMIN_KEY: adminKey,
      TOLLGATE_KEYRING: `k1:${randomBytes(32).toString('base64')}`,
      TOLLGATE_WORKERS: '1',
      TOLLGATE_ACCESS_LOG: 'false',
    };
    const [adminPort, adminStatus] = [await closedPort(), await closedPort()];
    adminUrl = `http://127.0.0.1:${adminPort}`;
    admin = spawn(process.execPath, ['--import', 'tsx', 'bin/tollgate.ts', 'control-plane'], {
      env: {
        ...env,
        TOLLGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        TOLLGATE_STATUS_LISTEN: `127.0.0.1:${adminStatus}`,
      },
      stdio: 'ignore',
    });
    for (let i = 0; i < 3; i++) {
      const node = { port: await closedPort(), statusPort: await closedPort() };
      nodes.push(node);
      startNode(node);
    }
    await Promise.all(nodes.map((n) => ready(n)));
    await eventually(async () => {
      const res = await got(`${adminUrl}/apisix/admin/routes`, {
        headers: { 'x-api-key': adminKey },
        throwHttpErrors: false,
      }).catch(() => undefined);
      return res?.statusCode === 200;
    }, 30_000);
    await write('/upstreams/u', { nodes: { [upstream.node]: 1 } });
    await write('/routes/ip', { uri: '/ip', upstream_id: 'u' });
    await write('/routes/delay', { uri: '/delay/*', upstream_id: 'u' });
    await servedEverywhere('/ip');
    await servedEverywhere('/delay/1');
  });

  after(async function () {
    await Promise.all(nodes.map((n) => stopNode(n, 'SIGKILL')));
    admin?.kill('SIGKILL');
    await upstream?.close();
    await etcd?.destroy();
  });

  it('should enforce a route, an upstream and a consumer written through the Admin API on all three', async function () {
    await write('/upstreams/v', { nodes: { [upstream.node]: 1 } });
    await write('/routes/new', { uri: '/new', upstream_id: 'v', plugins: { 'jwt-auth': {} } });
    await servedEverywhere('/new', 401);
    await write('/consumers/jack', {
      plugins: { 'jwt-auth': { key: 'jack', secret: 's3cret-s3cret' } },
    });
    await write('/routes/login', {
      uri: '/login',
      plugins: { 'public-api': { uri: '/apisix/plugin/jwt/sign' } },
    });
    await servedEverywhere('/login?key=jack');
  });

  it('should keep serving on the others when a node is killed, and resync it on restart', async function () {
    const [victim, ...others] = nodes as [Node, Node, Node];
    await stopNode(victim, 'SIGKILL');
    for (const node of others) {
      assert.equal(await get(node.port, '/ip'), 200);
    }
    await write('/routes/while-down', { uri: '/while-down', upstream_id: 'u' });
    startNode(victim);
    await ready(victim);
    await eventually(async () => (await get(victim.port, '/while-down')) === 200, 10_000);
  });

  it('should serve every request while etcd is down for 30 seconds, then take new writes', async function () {
    const traffic = load(nodes, '/ip');
    await etcd.stopAll();
    await new Promise((r) => setTimeout(r, 30_000));
    await etcd.startAll();
    const { ok, failures } = await traffic.stop();
    assert.deepEqual(failures, []);
    assert.ok(ok > 100, `only ${ok} requests went through`);

    await eventually(async () => {
      const res = await got.put(`${adminUrl}/apisix/admin/routes/after`, {
        json: { uri: '/after', upstream_id: 'u' },
        headers: { 'x-api-key': adminKey },
        throwHttpErrors: false,
        retry: { limit: 0 },
      });
      return res.statusCode < 300;
    }, 20_000);
    await servedEverywhere('/after');
  });

  it('should lose no request in a rolling restart, one node at a time', async function () {
    const traffic = load(nodes, '/delay/20');
    await new Promise((r) => setTimeout(r, 500));
    for (const node of nodes) {
      await stopNode(node, 'SIGTERM');
      startNode(node);
      await ready(node);
    }
    const { ok, failures } = await traffic.stop();
    assert.deepEqual(failures, []);
    assert.ok(ok > 50, `only ${ok} requests went through`);
  });
});
