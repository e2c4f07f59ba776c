import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { waitUntil } from '../harness/watch-recorder.js';
import { startAdmin } from '../helpers/admin.js';
import type { TestAdmin } from '../helpers/admin.js';
import { eventually, startNode } from '../helpers/data-plane.js';
import type { TestNode } from '../helpers/data-plane.js';
import { FIXTURE_PLUGIN, registerFixturePlugin } from '../helpers/fixture-plugin.js';
import { startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

describe('data plane plugins, access log and shutdown', function () {
  let etcd: TestEtcd;
  let store: ConfigStore;
  let admin: TestAdmin;
  let node: TestNode;
  let upstream: TestUpstream;
  let logDir: string;

  before(async function () {
    registerFixturePlugin();
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    logDir = mkdtempSync(join(tmpdir(), 'tollgate-access-'));
    store = createEtcdStore({ endpoints: etcd.endpoints, prefix: uniquePrefix('plugins') });
    admin = await startAdmin(store);
    node = await startNode(store, {
      TOLLGATE_ACCESS_LOG: 'true',
      TOLLGATE_ACCESS_LOG_PATH: join(logDir, 'access.log'),
    });
    await node.sync.whenReady();
    upstream = await startUpstream('a');
  });
  afterEach(async function () {
    await node.close(0);
    await admin.close();
    await upstream.close();
    await store.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  async function put(path: string, body: unknown): Promise<void> {
    const res = await admin.request('PUT', `/apisix/admin${path}`, body);
    assert.ok(res.status < 300, res.text);
    await eventually(async () => node.sync.status().revision >= res.body.modifiedIndex);
  }
  const tag = (value: string) => ({ [FIXTURE_PLUGIN]: { tag: value } });
  const seenTag = async () => (await node.request('/ip')).body.headers['x-tag'] as string;

  it('should merge global rules, service, plugin config and route, the route winning', async function () {
    await put('/global_rules/1', { plugins: tag('global') });
    await put('/services/s', {
      plugins: tag('service'),
      upstream: { nodes: { [upstream.node]: 1 } },
    });
    await put('/plugin_configs/p', { plugins: tag('plugin-config') });
    await put('/routes/1', {
      uri: '/ip',
      service_id: 's',
      plugin_config_id: 'p',
      plugins: tag('route'),
    });
    assert.equal(await seenTag(), 'route');

    await put('/routes/1', { uri: '/ip', service_id: 's', plugin_config_id: 'p' });
    assert.equal(await seenTag(), 'plugin-config');
    await put('/routes/1', { uri: '/ip', service_id: 's' });
    assert.equal(await seenTag(), 'service');
    await put('/services/s', { upstream: { nodes: { [upstream.node]: 1 } } });
    assert.equal(await seenTag(), 'global');
  });

  it('should answer a generic 500 when a plugin throws, log the route, and keep serving', async function () {
    await put('/routes/bad', {
      uri: '/bad',
      plugins: { [FIXTURE_PLUGIN]: { fail: true } },
      upstream: { nodes: { [upstream.node]: 1 } },
    });
    await put('/routes/good', { uri: '/ip', upstream: { nodes: { [upstream.node]: 1 } } });
    const res = await node.request('/bad');
    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { error_msg: 'internal error' });
    assert.ok(!res.text.includes('fixture plugin failure'));
    const logged = node.logLines().find((l) => l.message === 'plugin failed');
    assert.equal(logged?.route_id, 'bad');
    assert.equal((await node.request('/ip')).status, 200);
  });

  it('should write one access line per request without credentials', async function () {
    await put('/routes/1', { uri: '/ip', upstream: { nodes: { [upstream.node]: 1 } } });
    await node.request('/ip?jwt=secret-token', {
      headers: { authorization: 'Bearer secret-token', cookie: 'jwt=secret-token' },
    });
    await node.request('/missing');
    await eventually(async () => readLines().length >= 2);

    const [hit, miss] = readLines();
    assert.equal(hit?.route_id, '1');
    assert.equal(hit?.status, 200);
    assert.equal(hit?.upstream_addr, upstream.node);
    assert.equal(hit?.path, '/ip');
    assert.ok(Number(hit?.bytes) > 0);
    assert.equal(typeof hit?.latency_ms, 'number');
    assert.equal(miss?.status, 404);
    assert.equal(miss?.route_id, null);
    assert.ok(!readFileSync(join(logDir, 'access.log'), 'utf8').includes('secret-token'));
  });

  function readLines(): Record<string, unknown>[] {
    let text = '';
    try {
      text = readFileSync(join(logDir, 'access.log'), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('should finish requests in flight when it shuts down, then refuse new ones', async function () {
    await put('/routes/1', { uri: '/delay/*', upstream: { nodes: { [upstream.node]: 1 } } });
    const inFlight = node.request('/delay/400');
    await waitUntil(() => upstream.open() === 1, 'the upstream holds the request');
    const closing = node.close(5000);
    const res = await inFlight;
    assert.equal(res.status, 200);
    await closing;
    await assert.rejects(node.request('/delay/1'), /ECONNREFUSED/);
  });
});
