import assert from 'node:assert/strict';

import { loadConfig } from '../../shared/config.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import { openStore } from '../../shared/store/index.js';
import { StoreUnavailableError } from '../../shared/store/types.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startEtcdCluster } from '../harness/etcd-cluster.js';
import type { EtcdCluster } from '../harness/etcd-cluster.js';
import { uniquePrefix } from '../harness/etcd.js';
import { waitUntil } from '../harness/watch-recorder.js';

/** Writes until etcd takes it: a hung leader refuses writes until the others elect a new one. */
async function putEventually(store: ConfigStore, key: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await store.put(key, 'v');
      return;
    } catch (err) {
      assert.ok(err instanceof StoreUnavailableError, String(err));
      assert.ok(Date.now() < deadline, `etcd took no write of ${key} within 20 s`);
    }
  }
}

/** A store built the way the processes build it: from environment settings. */
function storeFrom(env: Record<string, string>): Promise<ConfigStore> {
  return openStore(
    loadConfig({
      file: '/dev/null',
      env: { TOLLGATE_ETCD_PREFIX: uniquePrefix('prod'), TOLLGATE_ETCD_TIMEOUT_MS: '1500', ...env },
    }),
  );
}

describe('etcd in production shape', function () {
  this.timeout(60_000);

  describe('over TLS with client certificates', function () {
    let cluster: EtcdCluster;
    before(async function () {
      cluster = await startEtcdCluster({ tls: true });
    });
    after(async function () {
      await cluster.destroy();
    });

    it('should read and write with the CA, certificate and key from the settings', async function () {
      const tls = cluster.tls!;
      const store = await storeFrom({
        TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(','),
        TOLLGATE_ETCD_CA_FILE: tls.ca,
        TOLLGATE_ETCD_CERT_FILE: tls.clientCert,
        TOLLGATE_ETCD_KEY_FILE: tls.clientKey,
      });
      try {
        await store.put('/routes/1', '{}');
        assert.equal((await store.get('/routes/1'))?.value, '{}');
      } finally {
        await store.close();
      }
    });

    it('should fail as unavailable without the client certificate', async function () {
      const store = await storeFrom({
        TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(','),
        TOLLGATE_ETCD_CA_FILE: cluster.tls!.ca,
      });
      try {
        await assert.rejects(store.get('/routes/1'));
      } finally {
        await store.close();
      }
    });

    it('should refuse a certificate file that cannot be read, naming the setting', function () {
      assert.throws(
        () => loadConfig({ file: '/dev/null', env: { TOLLGATE_ETCD_CA_FILE: '/no/such/ca.pem' } }),
        /TOLLGATE_ETCD_CA_FILE.*ENOENT/,
      );
    });
  });

  describe('with authentication', function () {
    let cluster: EtcdCluster;
    before(async function () {
      cluster = await startEtcdCluster({ rootPassword: 'root-password-for-tests' });
    });
    after(async function () {
      await cluster.destroy();
    });

    it('should work with the right user and password', async function () {
      const store = await storeFrom({
        TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(','),
        TOLLGATE_ETCD_USERNAME: 'root',
        TOLLGATE_ETCD_PASSWORD: 'root-password-for-tests',
      });
      try {
        await store.put('/routes/1', '{}');
        assert.equal((await store.get('/routes/1'))?.value, '{}');
      } finally {
        await store.close();
      }
    });

    it('should be refused with a wrong password or none', async function () {
      for (const env of [
        { TOLLGATE_ETCD_USERNAME: 'root', TOLLGATE_ETCD_PASSWORD: 'wrong' },
        {} as Record<string, string>,
      ]) {
        const store = await storeFrom({
          TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(','),
          ...env,
        });
        try {
          await assert.rejects(store.put('/routes/1', '{}'));
        } finally {
          await store.close();
        }
      }
    });

    it('should need both user and password', function () {
      assert.throws(
        () => loadConfig({ file: '/dev/null', env: { TOLLGATE_ETCD_USERNAME: 'root' } }),
        /set both or neither/,
      );
    });
  });

  describe('with three members', function () {
    let cluster: EtcdCluster;
    before(async function () {
      cluster = await startEtcdCluster({ members: 3 });
    });
    after(async function () {
      await cluster.destroy();
    });

    it('should lose no write when a follower is stopped', async function () {
      const store = await storeFrom({ TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(',') });
      const follower = cluster.members[(cluster.leader() + 1) % 3]!;
      try {
        await store.put('/routes/1', 'before');
        await follower.stop();
        for (let i = 0; i < 20; i++) {
          await store.put(`/routes/${i}`, `during-${i}`);
          assert.equal((await store.get(`/routes/${i}`))?.value, `during-${i}`);
        }
      } finally {
        await cluster.startAll();
        await store.close();
      }
    });

    // A write in flight when the leader dies may be lost with it, and etcd
    // takes no write until a new leader is elected (one to two election
    // timeouts), so the store may fail calls for that long, but only as
    // unavailable, and must take writes again by itself.
    it('should take writes again once a new leader replaces a stopped one', async function () {
      const store = await storeFrom({ TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(',') });
      const leader = cluster.members[cluster.leader()]!;
      try {
        await store.put('/routes/1', 'before');
        await leader.stop();
        const stoppedAt = Date.now();
        for (;;) {
          try {
            await store.put('/routes/first', 'after');
            break;
          } catch (err) {
            assert.ok(err instanceof StoreUnavailableError, `unexpected ${String(err)}`);
            assert.ok(Date.now() - stoppedAt < 20_000, 'no write was taken within 20 s');
          }
        }
        for (let i = 0; i < 20; i++) {
          await store.put(`/routes/${i}`, `during-${i}`);
        }
        for (let i = 0; i < 20; i++) {
          assert.equal((await store.get(`/routes/${i}`))?.value, `during-${i}`);
        }
        assert.equal((await store.get('/routes/first'))?.value, 'after');
      } finally {
        await cluster.startAll();
        await store.close();
      }
    });

    // A hung member (stopped, or cut off without a reset) keeps its sockets
    // open, so only pings tell that it is gone.
    it('should move a watch off a member that hangs, whichever member it is', async function () {
      const watching = createEtcdStore({
        endpoints: cluster.endpoints,
        prefix: uniquePrefix('hang'),
        keepaliveMs: 1000,
      });
      const writer = createEtcdStore({ endpoints: cluster.endpoints, prefix: watching.prefix });
      const seen = new Set<string>();
      const watch = await watching.watch('/', (await watching.revision()) + 1, {
        onEvents: (events) => events.forEach((e) => seen.add(e.type === 'put' ? e.kv.key : e.key)),
        onCompacted: () => undefined,
      });
      try {
        for (const [i, member] of cluster.members.entries()) {
          member.pause();
          try {
            await putEventually(writer, `/routes/${i}`);
            await waitUntil(() => seen.has(`/routes/${i}`), `the watch sees /routes/${i}`, 20_000);
          } finally {
            member.resume();
          }
        }
      } finally {
        await watch.cancel();
        await watching.close();
        await writer.close();
      }
    });

    it('should fail few calls while a follower hangs', async function () {
      const store = createEtcdStore({ endpoints: cluster.endpoints, prefix: uniquePrefix('hang') });
      const follower = cluster.members[(cluster.leader() + 1) % 3]!;
      follower.pause();
      let failed = 0;
      try {
        for (let i = 0; i < 40; i++) {
          await store.put(`/routes/${i}`, 'v').catch((err: unknown) => {
            assert.ok(err instanceof StoreUnavailableError, String(err));
            failed++;
          });
        }
      } finally {
        follower.resume();
        await store.close();
      }
      assert.ok(failed <= 2, `${failed} of 40 writes failed`);
    });

    it('should report the store unavailable when the quorum is lost', async function () {
      const store = await storeFrom({ TOLLGATE_ETCD_ENDPOINTS: cluster.endpoints.join(',') });
      try {
        await cluster.members[1]!.stop();
        await cluster.members[2]!.stop();
        await assert.rejects(store.put('/routes/x', 'y'), StoreUnavailableError);
      } finally {
        await cluster.startAll();
        await store.close();
      }
    });
  });
});
