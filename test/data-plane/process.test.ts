import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

import got from 'got';

import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { eventually } from '../helpers/data-plane.js';
import { closedPort, startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode);
    } else {
      child.once('exit', (code) => resolve(code));
    }
  });
}

describe('tollgate data-plane (npm run data-plane)', function () {
  this.timeout(60_000);
  let etcd: TestEtcd;
  let store: ConfigStore;
  let upstream: TestUpstream;
  let prefix: string;

  before(async function () {
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    prefix = uniquePrefix('process');
    store = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    upstream = await startUpstream('a');
  });
  afterEach(async function () {
    await upstream.close();
    await store.close();
  });

  it('should run worker processes on one port, report them ready, and drain on SIGTERM', async function () {
    const route = { id: '1', uri: '/ip', upstream: { nodes: { [upstream.node]: 1 } } };
    await store.put('/routes/1', JSON.stringify(route));
    const [port, statusPort] = [await closedPort(), await closedPort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/tollgate.ts', 'data-plane'], {
      env: {
        PATH: process.env.PATH,
        TOLLGATE_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        TOLLGATE_ETCD_PREFIX: prefix,
        TOLLGATE_WORKERS: '2',
        TOLLGATE_GATEWAY_LISTEN: `127.0.0.1:${port}`,
        TOLLGATE_STATUS_LISTEN: `127.0.0.1:${statusPort}`,
        TOLLGATE_ACCESS_LOG: 'false',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      const status = `http://127.0.0.1:${statusPort}`;
      await eventually(async () => {
        const res = await got(`${status}/readyz`, { throwHttpErrors: false }).catch(
          () => undefined,
        );
        return res?.statusCode === 200;
      }, 30_000);
      const doc = await got(`${status}/status`).json<{
        workers: number;
        counts: { routes: number };
      }>();
      assert.equal(doc.workers, 2);
      assert.equal(doc.counts.routes, 1);

      const res = await got(`http://127.0.0.1:${port}/ip`).json<{ name: string }>();
      assert.equal(res.name, 'a');
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited(child), 0);
    }
  });

  it('should refuse to start without etcd and say why', async function () {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/tollgate.ts', 'data-plane'], {
      env: { PATH: process.env.PATH, TOLLGATE_WORKERS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    assert.equal(await exited(child), 1);
    assert.match(stderr, /TOLLGATE_ETCD_ENDPOINTS/);
  });
});
