import assert from 'node:assert/strict';

import got from 'got';

import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startAdmin } from '../helpers/admin.js';
import type { TestAdmin } from '../helpers/admin.js';
import { requireEtcdControl } from '../helpers/etcd-control.js';
import { eventually, startNode } from '../helpers/data-plane.js';
import type { TestNode } from '../helpers/data-plane.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import type { TcpProxy } from '../helpers/tcp-proxy.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

describe('data plane config sync', function () {
  this.timeout(60_000);
  let etcd: TestEtcd;
  let prefix: string;
  let adminStore: ConfigStore;
  let admin: TestAdmin;
  let upstream: TestUpstream;
  let proxy: TcpProxy;
  const cleanup: (() => Promise<void>)[] = [];

  before(async function () {
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    prefix = uniquePrefix('sync');
    adminStore = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    admin = await startAdmin(adminStore);
    upstream = await startUpstream('a');
    proxy = await startTcpProxy(Number(new URL(etcd.endpoints[0]!).port));
  });
  afterEach(async function () {
    for (const fn of cleanup.splice(0).reverse()) {
      await fn();
    }
    await admin.close();
    await upstream.close();
    await proxy.close();
    await adminStore.close();
  });

  /** A node whose etcd connection goes through the cuttable proxy. */
  async function node(env: Record<string, string> = {}): Promise<TestNode> {
    const store = createEtcdStore({ endpoints: [proxy.url], prefix, timeoutMs: 1000 });
    const n = await startNode(store, env);
    cleanup.push(async () => {
      await n.close(0);
      await store.close();
    });
    return n;
  }

  const route = (uri: string) => ({ uri, upstream: { nodes: { [upstream.node]: 1 } } });

  async function serves(n: TestNode, path: string): Promise<boolean> {
    return (await n.request(path)).status === 200;
  }

  it('should enforce an Admin API write on every node', async function () {
    const [one, two] = [await node(), await node()];
    await Promise.all([one.sync.whenReady(), two.sync.whenReady()]);
    await admin.request('PUT', '/apisix/admin/routes/1', route('/both'));
    await eventually(() => serves(one, '/both'), 1000);
    await eventually(() => serves(two, '/both'), 1000);

    await admin.request('DELETE', '/apisix/admin/routes/1');
    await eventually(async () => !(await serves(one, '/both')), 1000);
    await eventually(async () => !(await serves(two, '/both')), 1000);
  });

  it('should start from existing config and report it on the status listener', async function () {
    await admin.request('PUT', '/apisix/admin/routes/1', route('/old'));
    const n = await node();
    await n.sync.whenReady();
    assert.ok(await serves(n, '/old'));

    const status = await got(`${n.statusUrl}/status`).json<Record<string, any>>(); // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(status.ready, true);
    assert.equal(status.counts.routes, 1);
    assert.ok(status.revision >= 2);
    const live = await got(`${n.statusUrl}/healthz`, { throwHttpErrors: false });
    assert.equal(live.statusCode, 200);
    const publicHealth = await n.request('/healthz');
    assert.equal(publicHealth.status, 404, 'health endpoints stay off the public port');
  });

  it('should not be ready, nor take traffic, before the first full sync', async function () {
    proxy.cut();
    const [statusPort, port] = [await closedPort(), await closedPort()];
    const starting = node({
      TOLLGATE_STATUS_LISTEN: `127.0.0.1:${statusPort}`,
      TOLLGATE_GATEWAY_LISTEN: `127.0.0.1:${port}`,
    });
    const status = (path: string) =>
      got(`http://127.0.0.1:${statusPort}${path}`, { throwHttpErrors: false, retry: { limit: 0 } });
    await eventually(
      async () => (await status('/healthz').catch(() => undefined))?.statusCode === 200,
    );
    assert.equal((await status('/readyz')).statusCode, 503);
    await assert.rejects(
      got(`http://127.0.0.1:${port}/x`, { retry: { limit: 0 } }),
      /ECONNREFUSED/,
    );

    proxy.restore();
    const n = await starting;
    assert.equal((await status('/readyz')).statusCode, 200);
    assert.equal((await n.request('/nothing-here')).status, 404);
  });

  it('should keep serving while the store is unreachable and converge when it returns', async function () {
    await admin.request('PUT', '/apisix/admin/routes/1', route('/kept'));
    const n = await node();
    await n.sync.whenReady();

    proxy.cut();
    await admin.request('PUT', '/apisix/admin/routes/2', route('/later'));
    for (let i = 0; i < 20; i++) {
      assert.ok(await serves(n, '/kept'));
    }
    await eventually(async () => n.sync.status().phase === 'disconnected');
    assert.equal(await serves(n, '/later'), false);

    proxy.restore();
    await eventually(() => serves(n, '/later'), 10_000);
    const lost = n
      .logLines()
      .filter((l) => l.message === 'lost the config store, serving the last config');
    assert.equal(lost.length, 1, 'the outage is logged once, not per retry');
  });

  it('should keep serving while etcd itself is stopped', async function () {
    const control = requireEtcdControl(this, etcd);
    await admin.request('PUT', '/apisix/admin/routes/1', route('/kept'));
    const n = await node();
    await n.sync.whenReady();
    await control.kill();
    try {
      for (let i = 0; i < 20; i++) {
        assert.ok(await serves(n, '/kept'));
      }
    } finally {
      await control.restart();
    }
    await eventually(
      async () =>
        (await admin.request('PUT', '/apisix/admin/routes/2', route('/new'))).status === 201,
      10_000,
    );
    await eventually(() => serves(n, '/new'), 10_000);
  });

  it('should read everything again after its watch falls behind compaction', async function () {
    await admin.request('PUT', '/apisix/admin/routes/1', route('/one'));
    const n = await node();
    await n.sync.whenReady();

    proxy.cut();
    await admin.request('PUT', '/apisix/admin/routes/2', route('/two'));
    await admin.request('DELETE', '/apisix/admin/routes/1');
    await adminStore.compact(await adminStore.revision());
    proxy.restore();

    await eventually(() => serves(n, '/two'), 10_000);
    await eventually(async () => !(await serves(n, '/one')), 10_000);
    assert.ok(n.logLines().some((l) => String(l.message).includes('compaction')));
  });

  it('should skip an invalid object written by another tool and keep the rest', async function () {
    await admin.request('PUT', '/apisix/admin/routes/1', route('/good'));
    await admin.request('PUT', '/apisix/admin/routes/2', route('/second'));
    const n = await node();
    await n.sync.whenReady();

    await adminStore.put('/routes/2', JSON.stringify({ uri: 5 }));
    await adminStore.put('/routes/3', '{not json');
    const { revision } = await adminStore.put('/routes/4', JSON.stringify(route('/fourth')));
    await eventually(async () => n.sync.status().revision >= revision);

    assert.ok(await serves(n, '/good'));
    assert.ok(await serves(n, '/fourth'));
    assert.ok(await serves(n, '/second'), 'the last good version stays');
    const errors = n.logLines().filter((l) => l.level === 'error');
    assert.ok(errors.some((l) => l.store_key === `/routes/2`));
    assert.ok(errors.some((l) => l.store_key === `/routes/3`));
  });
});
