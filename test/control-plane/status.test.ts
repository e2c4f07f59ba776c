import assert from 'node:assert/strict';
import type { Server } from 'node:http';

import got from 'got';

import { startStatusListener } from '../../control-plane/status.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { requireEtcdControl } from '../helpers/etcd-control.js';

describe('control plane status listener', function () {
  this.timeout(30_000);
  let etcd: TestEtcd;
  let store: ConfigStore;
  let server: Server;
  let url: string;

  before(async function () {
    etcd = await startTestEtcd();
    store = createEtcdStore({
      endpoints: etcd.endpoints,
      prefix: uniquePrefix('cp-status'),
      timeoutMs: 1000,
    });
    server = await startStatusListener(store, { host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async function () {
    server.closeAllConnections();
    server.close();
    await store.close();
    await etcd.stop();
  });

  const get = (path: string) => got(url + path, { throwHttpErrors: false, retry: { limit: 0 } });

  it('should be alive and ready while the store answers', async function () {
    assert.equal((await get('/healthz')).statusCode, 200);
    assert.equal((await get('/readyz')).statusCode, 200);
    const status = JSON.parse((await get('/status')).body) as { store: string; revision: number };
    assert.equal(status.store, 'etcd');
    assert.ok(status.revision >= 1);
  });

  it('should stop being ready while etcd is down, but stay alive', async function () {
    const control = requireEtcdControl(this, etcd);
    await control.kill();
    try {
      assert.equal((await get('/readyz')).statusCode, 503);
      assert.equal((await get('/healthz')).statusCode, 200);
    } finally {
      await control.restart();
    }
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await get('/readyz')).statusCode;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200);
  });
});
