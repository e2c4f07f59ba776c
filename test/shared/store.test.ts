import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { openEmbeddedStore } from '../../shared/store/embedded.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import {
  StoreCompactedError,
  StoreUnavailableError,
  StoreValueTooLargeError,
} from '../../shared/store/types.js';
import { padLength } from '../harness/embedded-writer.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import { waitUntil, WatchRecorder } from '../harness/watch-recorder.js';

/**
 * How long a key written with ttlSeconds 1 may take to go: etcd rounds a
 * lease up to its minimum TTL (2 s by default) and checks expiry every 500 ms.
 */
const EXPIRY_WAIT_MS = 5_000;

interface Backend {
  name: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  open(prefix: string): Promise<ConfigStore>;
}

function etcdBackend(): Backend {
  let etcd: TestEtcd | undefined;
  return {
    name: 'etcd',
    setUp: async () => void (etcd = await startTestEtcd()),
    tearDown: async () => etcd?.stop(),
    open: async (prefix) => createEtcdStore({ endpoints: etcd?.endpoints ?? [], prefix }),
  };
}

function embeddedBackend(): Backend {
  let root = '';
  return {
    name: 'embedded',
    setUp: async () => void (root = await mkdtemp(join(tmpdir(), 'tollgate-store-'))),
    tearDown: () => rm(root, { recursive: true, force: true }),
    open: async (prefix) => openEmbeddedStore({ dataDir: await mkdtemp(join(root, 'd-')), prefix }),
  };
}

for (const backend of [etcdBackend(), embeddedBackend()]) {
  describe(`ConfigStore on ${backend.name}`, function () {
    let opened: ConfigStore[] = [];

    before(() => backend.setUp());
    after(() => backend.tearDown());
    afterEach(async () => {
      await Promise.all(opened.map((store) => store.close()));
      opened = [];
    });

    async function open(name: string, prefix = uniquePrefix(name)): Promise<ConfigStore> {
      const store = await backend.open(prefix);
      opened.push(store);
      return store;
    }

    it('should not see keys written under another prefix', async function () {
      const prefix = uniquePrefix('isolation');
      const store = await open('isolation', prefix);
      const sibling = await open('isolation', `${prefix}x`);

      await sibling.put('/routes/1', 'theirs');
      await store.put('/routes/2', 'ours');

      const page = await store.range('');
      assert.deepEqual(
        page.kvs.map((kv) => kv.key),
        ['/routes/2'],
      );
      assert.equal(await store.get('/routes/1'), undefined);
    });

    it('should increment the revision once per write', async function () {
      const store = await open('revision');
      const start = await store.revision();

      assert.equal((await store.put('/a', '1')).revision, start + 1);
      assert.equal((await store.put('/b', '2')).revision, start + 2);
      assert.equal((await store.delete('/a')).revision, start + 3);
      assert.equal(await store.revision(), start + 3);
    });

    it('should track create and mod revisions and the version of a key', async function () {
      const store = await open('versions');
      const first = await store.put('/k', 'one');
      const second = await store.put('/k', 'two');

      assert.deepEqual(await store.get('/k'), {
        key: '/k',
        value: 'two',
        createRevision: first.revision,
        modRevision: second.revision,
        version: 2,
      });

      await store.delete('/k');
      const again = await store.put('/k', 'three');
      const kv = await store.get('/k');
      assert.equal(kv?.createRevision, again.revision);
      assert.equal(kv?.version, 1);
    });

    it('should return undefined for a missing key', async function () {
      const store = await open('missing');
      assert.equal(await store.get('/nothing/here'), undefined);
    });

    it('should range over a key prefix in key order', async function () {
      const store = await open('range');
      for (const key of ['/r/b', '/r/c', '/rr/x', '/r/a', '/other']) {
        await store.put(key, key.toUpperCase());
      }

      const page = await store.range('/r/');
      assert.deepEqual(
        page.kvs.map((kv) => [kv.key, kv.value]),
        [
          ['/r/a', '/R/A'],
          ['/r/b', '/R/B'],
          ['/r/c', '/R/C'],
        ],
      );
      assert.equal(page.more, false);
      assert.equal(page.revision, await store.revision());
    });

    it('should page at a fixed revision while writes happen between pages', async function () {
      const store = await open('paging');
      for (const n of [1, 2, 3, 4, 5]) {
        await store.put(`/p/${n}`, `v${n}`);
      }

      const first = await store.range('/p/', { limit: 2 });
      await store.put('/p/0', 'new');
      await store.delete('/p/4');
      await store.put('/p/3', 'changed');

      const listed = [...first.kvs];
      let page = first;
      while (page.more) {
        const after = listed.at(-1)?.key;
        page = await store.range('/p/', { limit: 2, after, revision: first.revision });
        assert.equal(page.revision, first.revision);
        listed.push(...page.kvs);
      }

      assert.equal(first.more, true);
      assert.deepEqual(
        listed.map((kv) => `${kv.key}=${kv.value}`),
        ['/p/1=v1', '/p/2=v2', '/p/3=v3', '/p/4=v4', '/p/5=v5'],
      );
    });

    it('should fail with StoreCompactedError when reading a compacted revision', async function () {
      const store = await open('compacted-read');
      const old = await store.put('/c', '1');
      const kept = await store.put('/c', '2');
      await store.compact(kept.revision);

      await assert.rejects(store.range('/', { revision: old.revision }), (error: unknown) => {
        assert.ok(error instanceof StoreCompactedError);
        assert.equal(error.compactRevision, kept.revision);
        return true;
      });
      const page = await store.range('/', { revision: kept.revision });
      assert.deepEqual(
        page.kvs.map((kv) => kv.value),
        ['2'],
      );
    });

    it('should create a key only when it is absent', async function () {
      const store = await open('create');
      const created = await store.create('/only', 'first');
      const refused = await store.create('/only', 'second');

      assert.equal(created.succeeded, true);
      assert.equal(refused.succeeded, false);
      assert.equal(refused.revision, created.revision);
      assert.equal(refused.current?.value, 'first');
      assert.equal((await store.get('/only'))?.value, 'first');
    });

    it('should compare and set on the mod revision', async function () {
      const store = await open('cas');
      const { revision } = await store.put('/cas', 'a');

      const won = await store.compareAndSet('/cas', 'b', revision);
      const lost = await store.compareAndSet('/cas', 'c', revision);

      assert.equal(won.succeeded, true);
      assert.equal(won.revision, revision + 1);
      assert.equal(lost.succeeded, false);
      assert.equal(lost.current?.value, 'b');
      assert.equal(lost.current?.modRevision, won.revision);
    });

    it('should compare and delete on the mod revision', async function () {
      const store = await open('cad');
      const { revision } = await store.put('/cad', 'a');

      const stale = await store.compareAndDelete('/cad', revision - 1);
      assert.equal(stale.succeeded, false);
      assert.equal(stale.current?.modRevision, revision);

      const deleted = await store.compareAndDelete('/cad', revision);
      assert.equal(deleted.succeeded, true);
      assert.equal(deleted.revision, revision + 1);
      assert.equal(await store.get('/cad'), undefined);
    });

    it('should report what a delete removed', async function () {
      const store = await open('delete');
      const none = await store.delete('/gone');
      assert.equal(none.deleted, 0);
      assert.equal(none.previous, undefined);

      await store.put('/here', 'value');
      const result = await store.delete('/here');
      assert.equal(result.deleted, 1);
      assert.equal(result.previous?.value, 'value');
      assert.equal(result.revision, await store.revision());
    });

    it('should let exactly one of concurrent compareAndSet calls win', async function () {
      const store = await open('race');
      const { revision } = await store.put('/race', 'start');

      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.compareAndSet('/race', `w${i}`, revision)),
      );

      const winners = results.filter((result) => result.succeeded);
      assert.equal(winners.length, 1);
      assert.equal(await store.revision(), revision + 1);
    });

    it('should deliver history, then live events, in revision order', async function () {
      const store = await open('watch-history');
      const first = await store.put('/w/a', '1');
      await store.put('/w/b', '2');
      const deleted = await store.delete('/w/a');
      await store.put('/elsewhere', 'x');

      const recorder = new WatchRecorder();
      const watch = await store.watch('/w/', first.revision, recorder);
      const live = await store.put('/w/c', '3');
      await waitUntil(() => recorder.events.length === 4, 'four events arrived');
      await watch.cancel();

      const r = first.revision;
      assert.deepEqual(recorder.summary, [
        `/w/a@${r}`,
        `/w/b@${r + 1}`,
        `-/w/a@${deleted.revision}`,
        `/w/c@${live.revision}`,
      ]);
      assert.ok(recorder.batches.every((batch) => batch.length === 1));
    });

    it('should deliver a write between a read and its watch from revision + 1', async function () {
      const store = await open('watch-gap');
      await store.put('/g/1', 'listed');
      const listing = await store.range('/g/');
      const missed = await store.put('/g/2', 'written before the watch');

      const recorder = new WatchRecorder();
      const watch = await store.watch('/g/', listing.revision + 1, recorder);
      await waitUntil(() => recorder.events.length === 1, 'the write arrived');
      await watch.cancel();

      assert.deepEqual(recorder.summary, [`/g/2@${missed.revision}`]);
    });

    it('should deliver delete events with the revision of the deletion', async function () {
      const store = await open('watch-delete');
      await store.put('/d/1', 'x');
      const recorder = new WatchRecorder();
      const watch = await store.watch('/d/', (await store.revision()) + 1, recorder);

      const deleted = await store.delete('/d/1');
      await waitUntil(() => recorder.events.length === 1, 'the delete arrived');
      await watch.cancel();

      assert.deepEqual(recorder.events, [
        { type: 'delete', key: '/d/1', modRevision: deleted.revision },
      ]);
    });

    it('should report onCompacted when watching from a compacted revision', async function () {
      const store = await open('watch-compacted');
      const old = await store.put('/wc', '1');
      await store.put('/wc', '2');
      const kept = await store.put('/wc', '3');
      await store.compact(kept.revision);

      const recorder = new WatchRecorder();
      const watch = await store.watch('/', old.revision, recorder);
      await waitUntil(() => recorder.compactions.length === 1, 'onCompacted was called');
      await watch.cancel();

      assert.deepEqual(recorder.compactions, [kept.revision]);
      assert.equal(recorder.events.length, 0);
    });

    it('should refuse a 2 MiB value as too large and write nothing', async function () {
      const store = await open('too-large');
      await store.put('/big', 'small');
      const before = await store.revision();
      const big = 'x'.repeat(2 * 1024 * 1024);

      const tooLarge = (error: unknown) => {
        assert.ok(error instanceof StoreValueTooLargeError);
        assert.equal(error.code, 'STORE_VALUE_TOO_LARGE');
        assert.match(
          error.message,
          /^the value is too large for the store \(limit about \d+ bytes\)$/,
        );
        return true;
      };
      await assert.rejects(store.put('/big', big), tooLarge);
      await assert.rejects(store.create('/other', big), tooLarge);
      await assert.rejects(store.compareAndSet('/big', big, before), tooLarge);

      assert.equal(await store.revision(), before);
      assert.equal((await store.get('/big'))?.value, 'small');
      assert.equal(await store.get('/other'), undefined);
    });

    it('should reject bad arguments rather than throw them', async function () {
      const store = await open('bad-arguments');
      const calls = [
        () => store.put('no-slash', 'x'),
        () => store.create('no-slash', 'x'),
        () => store.compareAndSet('no-slash', 'x', 0),
        () => store.compareAndSet('/k', 'x', 1.5),
        () => store.delete('no-slash'),
        () => store.compareAndDelete('no-slash', 0),
        () => store.watch('/', 1.5, new WatchRecorder()),
      ];

      for (const call of calls) {
        let result: Promise<unknown> | undefined;
        assert.doesNotThrow(() => void (result = call()));
        await assert.rejects(result as Promise<unknown>, TypeError);
      }
    });

    // etcd stores UTF-8, where a lone surrogate becomes U+FFFD: two keys would be one.
    it('should refuse keys and values with a lone surrogate', async function () {
      const store = await open('surrogates');
      await assert.rejects(store.put('/a\ud800', 'x'), /well-formed Unicode/);
      await assert.rejects(store.put('/a', 'x\udc00'), /well-formed Unicode/);
      await store.put('/emoji\u{1f600}', '\u{1f600}');

      const page = await store.range('/');
      assert.deepEqual(
        page.kvs.map((kv) => [kv.key, kv.value]),
        [['/emoji\u{1f600}', '\u{1f600}']],
      );
    });

    it('should delete a key written with ttlSeconds when it expires, as a watched delete', async function () {
      const store = await open('ttl-expiry');
      const recorder = new WatchRecorder();
      const watch = await store.watch('/t/', (await store.revision()) + 1, recorder);
      const written = await store.put('/t/k', 'short-lived', { ttlSeconds: 1 });
      assert.equal((await store.get('/t/k'))?.value, 'short-lived');

      await waitUntilGone(store, '/t/k');
      await waitUntil(() => recorder.events.length === 2, 'the delete arrived', EXPIRY_WAIT_MS);
      await watch.cancel();

      assert.equal(recorder.summary[0], `/t/k@${written.revision}`);
      const deleted = recorder.events[1];
      assert.equal(deleted?.type, 'delete');
      assert.equal(deleted.key, '/t/k');
      assert.ok(deleted.modRevision > written.revision, 'the expiry is a write of its own');
      assert.ok((await store.revision()) >= deleted.modRevision);
      assert.deepEqual((await store.range('/t/')).kvs, []);
    });

    it('should create a key with ttlSeconds only when it is absent', async function () {
      const store = await open('ttl-create');
      await store.put('/taken', 'permanent');

      const refused = await store.create('/taken', 'temporary', { ttlSeconds: 1 });
      assert.equal(refused.succeeded, false);
      assert.equal(refused.current?.value, 'permanent');

      const created = await store.create('/fresh', 'temporary', { ttlSeconds: 1 });
      assert.equal(created.succeeded, true);
      assert.equal((await store.get('/fresh'))?.value, 'temporary');
      await waitUntilGone(store, '/fresh');

      assert.equal((await store.get('/taken'))?.value, 'permanent');
      assert.equal((await store.create('/fresh', 'again')).succeeded, true);
    });

    it('should compare and set with ttlSeconds', async function () {
      const store = await open('ttl-cas');
      const { revision } = await store.put('/cas', 'permanent');

      const stale = await store.compareAndSet('/cas', 'stale', revision - 1, { ttlSeconds: 1 });
      assert.equal(stale.succeeded, false);
      assert.equal(stale.current?.value, 'permanent');

      const won = await store.compareAndSet('/cas', 'temporary', revision, { ttlSeconds: 1 });
      assert.equal(won.succeeded, true);
      assert.equal((await store.get('/cas'))?.value, 'temporary');
      await waitUntilGone(store, '/cas');
    });

    it('should keep a key past its ttl once it is written again without one', async function () {
      const store = await open('ttl-cleared');
      await store.put('/kept', 'temporary', { ttlSeconds: 1 });
      await store.put('/kept', 'permanent');
      // Its ttl starts later than /kept's did, so /kept's would have run out first.
      await store.put('/control', 'temporary', { ttlSeconds: 1 });

      await waitUntilGone(store, '/control');
      // etcd revokes the leases due together concurrently: give the other one time too.
      await sleep(500);
      assert.equal((await store.get('/kept'))?.value, 'permanent');
    });

    it('should refuse a ttlSeconds that is not an integer from 1 to 31,536,000', async function () {
      const store = await open('ttl-invalid');
      for (const ttlSeconds of [0, -1, 1.5, 31_536_001, Number.NaN, Infinity]) {
        const calls = [
          () => store.put('/k', 'x', { ttlSeconds }),
          () => store.create('/k', 'x', { ttlSeconds }),
          () => store.compareAndSet('/k', 'x', 0, { ttlSeconds }),
        ];

        for (const call of calls) {
          let result: Promise<unknown> | undefined;
          assert.doesNotThrow(() => void (result = call()));
          await assert.rejects(result as Promise<unknown>, (error: unknown) => {
            assert.ok(error instanceof TypeError);
            assert.match(error.message, /^ttlSeconds must be an integer from 1 to 31536000/);
            return true;
          });
        }
      }
      assert.equal(await store.get('/k'), undefined);

      await store.put('/k', 'a year', { ttlSeconds: 31_536_000 });
      assert.equal((await store.get('/k'))?.value, 'a year');
      await store.delete('/k');
    });

    it('should stop delivering events after cancel', async function () {
      const store = await open('watch-cancel');
      const recorder = new WatchRecorder();
      const watch = await store.watch('/', (await store.revision()) + 1, recorder);

      await store.put('/x', 'before');
      await waitUntil(() => recorder.events.length === 1, 'the first event arrived');
      await watch.cancel();
      await store.put('/x', 'after');
      await new Promise((resolve) => setTimeout(resolve, 300));

      assert.equal(recorder.events.length, 1);
    });
  });
}

/** Polls until `key` is gone, failing after EXPIRY_WAIT_MS. */
async function waitUntilGone(store: ConfigStore, key: string): Promise<void> {
  const deadline = Date.now() + EXPIRY_WAIT_MS;
  while ((await store.get(key)) !== undefined) {
    if (Date.now() > deadline) {
      throw new Error(`${key} was still there after ${EXPIRY_WAIT_MS} ms`);
    }
    await sleep(20);
  }
}

describe('ConfigStore on embedded, durability', function () {
  let root = '';
  const stores: ConfigStore[] = [];

  before(async () => void (root = await mkdtemp(join(tmpdir(), 'tollgate-embedded-'))));
  after(() => rm(root, { recursive: true, force: true }));
  afterEach(async () => void (await Promise.all(stores.splice(0).map((s) => s.close()))));

  async function open(dataDir: string, prefix = '/tollgate'): Promise<ConfigStore> {
    const store = await openEmbeddedStore({ dataDir, prefix });
    stores.push(store);
    return store;
  }

  async function closeAll(): Promise<void> {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  }

  it('should keep data, revisions and history across close and reopen', async function () {
    const dir = join(root, 'reopen');
    const store = await open(dir);
    const first = await store.put('/a', '1');
    await store.put('/a', '2');
    await store.put('/b', '3');
    const before = await store.get('/a');
    const revision = await store.revision();
    await closeAll();

    const reopened = await open(dir);
    assert.equal(await reopened.revision(), revision);
    assert.deepEqual(await reopened.get('/a'), before);

    const recorder = new WatchRecorder();
    const watch = await reopened.watch('/', first.revision, recorder);
    await waitUntil(() => recorder.events.length === 3, 'the history was replayed');
    await watch.cancel();
    assert.equal((await reopened.put('/c', '4')).revision, revision + 1);
  });

  it('should ignore a torn last log record on reopen and keep earlier writes', async function () {
    const dir = join(root, 'torn');
    const copy = join(root, 'torn-copy');
    const store = await open(dir);
    await store.put('/a', 'first');
    const last = await store.put('/b', 'second');

    // A copy taken while the store is open has log records and no snapshot, like a crash.
    await cp(dir, copy, { recursive: true });
    await appendFile(join(copy, 'wal.log'), `${'0'.repeat(64)} {"seq":3,"op":"put"}\n{"seq":4,"o`);
    await closeAll();

    const recovered = await open(copy);
    assert.equal(await recovered.revision(), last.revision);
    assert.equal((await recovered.get('/a'))?.value, 'first');
    assert.equal((await recovered.get('/b'))?.value, 'second');
    await recovered.put('/c', 'third');
    await closeAll();

    const again = await open(copy);
    assert.equal((await again.get('/c'))?.value, 'third');
  });

  it('should refuse a second open of the same data dir', async function () {
    const dir = join(root, 'locked');
    await open(dir);

    await assert.rejects(openEmbeddedStore({ dataDir: dir, prefix: '/tollgate' }), /already open/);
  });

  it('should refuse a data dir locked by another live process', async function () {
    const dir = join(root, 'foreign-lock');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`);

    await assert.rejects(openEmbeddedStore({ dataDir: dir, prefix: '/t' }), /in use by process/);
  });

  it('should take over a lock left by a dead process', async function () {
    const dir = join(root, 'stale-lock');
    await mkdir(dir, { recursive: true });
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid;
    await new Promise((resolve) => child.once('exit', resolve));
    await writeFile(join(dir, 'LOCK'), `${pid}\n`);

    const store = await open(dir);
    assert.equal(await store.revision(), 1);
  });

  it('should leave only complete values after the writer is killed mid-write', async function () {
    this.timeout(60_000);
    const dir = join(root, 'killed');
    const script = fileURLToPath(new URL('../harness/embedded-writer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, '/crash'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });

    // Past 1,000 records the store also rewrites its snapshot: kill after that.
    let reported = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = chunk.toString('utf8').trim().split('\n');
      reported = Math.max(reported, Number(lines.at(-1)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await waitUntil(() => reported > 1_300, 'the writer passed 1,300 writes', 45_000);
    child.kill('SIGKILL');
    await exited;

    const store = await open(dir, '/crash');
    assert.ok((await store.revision()) >= reported, 'every acknowledged write is there');
    const page = await store.range('/k/');
    assert.equal(page.kvs.length, 50);
    for (const kv of page.kvs) {
      const value = JSON.parse(kv.value) as { i: number; pad: string };
      assert.equal(value.pad.length, padLength(value.i));
    }
  });
});

describe('ConfigStore on etcd, outages', function () {
  let etcd: TestEtcd;
  const timeoutMs = 1_000;
  let store: ConfigStore;

  before(async function () {
    etcd = await startTestEtcd();
    if (etcd.kill === undefined || etcd.restart === undefined) {
      this.skip();
    }
  });
  after(async () => etcd?.stop());
  beforeEach(() => {
    store = createEtcdStore({
      endpoints: etcd.endpoints,
      prefix: uniquePrefix('outage'),
      timeoutMs,
    });
  });
  afterEach(async () => {
    await etcd.restart?.();
    await store.close();
  });

  it('should fail as unavailable within the timeout, then work after restart', async function () {
    await store.put('/before', '1');
    await etcd.kill?.();

    const calls = [
      () => store.get('/before'),
      () => store.put('/during', '2'),
      () => store.range('/'),
      () => store.revision(),
      () => store.watch('/', 1, new WatchRecorder()),
    ];
    for (const call of calls) {
      const started = Date.now();
      await assert.rejects(call(), StoreUnavailableError);
      assert.ok(Date.now() - started < timeoutMs + 1_000, 'failed within the timeout');
    }

    await etcd.restart?.();
    assert.equal((await store.get('/before'))?.value, '1');
    await store.put('/after', '3');
  });

  it('should resume a watch after etcd restarts without losing events', async function () {
    this.timeout(30_000);
    const recorder = new WatchRecorder();
    const watch = await store.watch('/', (await store.revision()) + 1, recorder);
    const first = await store.put('/w', 'before');
    await waitUntil(() => recorder.events.length === 1, 'the first event arrived');

    await etcd.kill?.();
    await waitUntil(() => recorder.disconnects === 1, 'the watch reported the outage');
    await etcd.restart?.();

    const second = await store.put('/w', 'after');
    const third = await store.put('/x', 'after');
    await waitUntil(() => recorder.events.length === 3, 'the later events arrived', 15_000);
    await watch.cancel();

    assert.deepEqual(recorder.summary, [
      `/w@${first.revision}`,
      `/w@${second.revision}`,
      `/x@${third.revision}`,
    ]);
    assert.equal(recorder.connects, 1);
  });

  // etcd3 resumes from the revision of the watch's creation, which skipped the
  // history still in flight when the connection dropped.
  it('should not skip history when etcd restarts while a watch catches up', async function () {
    this.timeout(30_000);
    const start = (await store.revision()) + 1;
    const writes = Array.from({ length: 1_000 }, (_, i) => store.put(`/h/${i}`, 'x'.repeat(200)));
    await Promise.all(writes);

    const recorder = new WatchRecorder();
    const watch = await store.watch('/h/', start, recorder);
    await etcd.kill?.();
    await etcd.restart?.();
    await waitUntil(() => recorder.events.length >= 1_000, 'the history arrived', 15_000);
    await watch.cancel();

    const revisions = recorder.events.map((event) =>
      event.type === 'put' ? event.kv.modRevision : 0,
    );
    assert.deepEqual(
      revisions,
      Array.from({ length: 1_000 }, (_, i) => start + i),
    );
  });
});
