import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ExpiryQueue } from '../../shared/store/embedded-expiry.js';
import type { EmbeddedStoreOptions } from '../../shared/store/embedded.js';
import { openEmbeddedStore } from '../../shared/store/embedded.js';
import type { ConfigStore } from '../../shared/store/types.js';
import {
  StoreCompactedError,
  StoreFullError,
  StoreValueTooLargeError,
} from '../../shared/store/types.js';
import { waitUntil, WatchRecorder } from '../harness/watch-recorder.js';

const MiB = 1024 * 1024;

describe('ConfigStore on embedded, size limits', function () {
  this.timeout(30_000);
  let root = '';
  const stores: ConfigStore[] = [];

  before(async () => void (root = await mkdtemp(join(tmpdir(), 'tollgate-limits-'))));
  after(() => rm(root, { recursive: true, force: true }));
  afterEach(async () => void (await closeAll()));

  async function open(
    dataDir: string,
    limits: Omit<EmbeddedStoreOptions, 'dataDir' | 'prefix'> = {},
  ): Promise<ConfigStore> {
    const store = await openEmbeddedStore({ dataDir, prefix: '/t', ...limits });
    stores.push(store);
    return store;
  }

  async function closeAll(): Promise<void> {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  }

  // 300 writes of a 1.4 MB value kept 475 MB of history in the files and memory.
  it('should keep history and files within historyBytes when a key is rewritten', async function () {
    const dir = join(root, 'history-bytes');
    const store = await open(dir, { historyBytes: MiB });
    const value = (i: number) => `${String(i).padStart(4, '0')}${'x'.repeat(100_000)}`;

    const revisions: number[] = [];
    let largest = 0;
    for (let i = 0; i < 300; i++) {
      revisions.push((await store.put('/k', value(i))).revision);
      largest = Math.max(largest, await filesSize(dir));
    }
    assert.ok(largest < 3 * MiB, `the files grew to ${largest} bytes`);

    const last = revisions.at(-1) as number;
    const recent = await store.range('/', { revision: last - 5 });
    assert.equal(recent.kvs[0]?.value, value(294));
    await assert.rejects(store.range('/', { revision: last - 20 }), StoreCompactedError);
    await closeAll();

    const reopened = await open(dir, { historyBytes: MiB });
    assert.equal(await reopened.revision(), last);
    assert.equal((await reopened.get('/k'))?.value, value(299));
    assert.equal((await reopened.range('/', { revision: last - 5 })).kvs[0]?.value, value(294));

    const recorder = new WatchRecorder();
    const watch = await reopened.watch('/', revisions[0] as number, recorder);
    await waitUntil(() => recorder.compactions.length === 1, 'onCompacted was called');
    await watch.cancel();
    assert.equal(recorder.events.length, 0);
  });

  it('should compact the same way when the log is replayed', async function () {
    const dir = join(root, 'replay');
    const copy = join(root, 'replay-copy');
    const limits = { historyBytes: 20_000, historyLimit: 60 };
    const store = await open(dir, limits);
    await writeMixed(store, 400);

    // A no-op write waits for the snapshots queued before it, so the copy is consistent.
    await store.compareAndDelete('/none', 0);
    await cp(dir, copy, { recursive: true });
    assert.ok((await filesSize(copy, ['wal.log'])) > 0, 'the copy has records to replay');
    const replayed = await open(copy, limits);

    const revision = await store.revision();
    assert.equal(await replayed.revision(), revision);
    assert.match(await readAt(store, revision - 50), /^compacted/, 'historyBytes compacted');
    for (let r = 1; r <= revision; r++) {
      assert.deepEqual(await readAt(replayed, r), await readAt(store, r), `revision ${r}`);
    }
  });

  it('should compact to lowered limits when reopened', async function () {
    const dir = join(root, 'lowered');
    const store = await open(dir);
    const first = await store.put('/k', 'x'.repeat(10_000));
    for (let i = 0; i < 20; i++) {
      await store.put('/k', 'y'.repeat(10_000));
    }
    await closeAll();

    assert.ok((await filesSize(dir)) > 200_000);

    const reopened = await open(dir, { historyBytes: 50_000 });
    await assert.rejects(reopened.range('/', { revision: first.revision }), StoreCompactedError);
    assert.equal((await reopened.get('/k'))?.value, 'y'.repeat(10_000));
    assert.ok((await filesSize(dir)) < 100_000, 'the snapshot holds only what is kept');
  });

  it('should refuse a value past maxValueBytes', async function () {
    const store = await open(join(root, 'max-value'), { maxValueBytes: 100 });
    await assert.rejects(store.put('/k', 'x'.repeat(100)), (error: unknown) => {
      assert.ok(error instanceof StoreValueTooLargeError);
      assert.equal(error.limitBytes, 100);
      return true;
    });
    await store.put('/k', 'x'.repeat(90));
  });

  it('should refuse writes past quotaBytes but accept deletes and shrinking writes', async function () {
    const store = await open(join(root, 'quota'), { quotaBytes: 10_000 });
    for (const key of ['/a', '/b', '/c']) {
      await store.put(key, 'x'.repeat(3_000));
    }
    const before = await store.revision();

    await assert.rejects(store.put('/d', 'x'.repeat(3_000)), StoreFullError);
    await assert.rejects(store.create('/d', 'x'.repeat(3_000)), StoreFullError);
    assert.equal(await store.revision(), before);

    await store.put('/a', 'x'.repeat(2_000));
    await store.delete('/b');
    await store.put('/d', 'x'.repeat(3_000));
    assert.equal(await store.revision(), before + 3);
  });

  it('should check its options', async function () {
    const dataDir = join(root, 'options');
    const bad = [
      { historyBytes: 0 },
      { historyLimit: 1.5 },
      { maxValueBytes: -1 },
      { quotaBytes: 200 * MiB, historyBytes: 100 * MiB },
    ];

    for (const limits of bad) {
      await assert.rejects(openEmbeddedStore({ dataDir, prefix: '/t', ...limits }), TypeError);
    }
  });
});

describe('ConfigStore on embedded, expiring keys', function () {
  let root = '';
  const stores: ConfigStore[] = [];

  before(async () => void (root = await mkdtemp(join(tmpdir(), 'tollgate-expiry-'))));
  after(() => rm(root, { recursive: true, force: true }));
  afterEach(async () => void (await closeAll()));

  async function open(dataDir: string): Promise<ConfigStore> {
    const store = await openEmbeddedStore({ dataDir, prefix: '/t' });
    stores.push(store);
    return store;
  }

  async function closeAll(): Promise<void> {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  }

  /** Polls `check` until it holds, failing after 5 s. */
  async function eventually(check: () => Promise<boolean>, description: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting until ${description}`);
      }
      await sleep(10);
    }
  }

  it('should delete a key that expired while closed when reopened, as a write', async function () {
    const dir = join(root, 'expired-while-closed');
    const store = await open(dir);
    const written = await store.put('/gone', 'temporary', { ttlSeconds: 1 });
    const kept = await store.put('/kept', 'permanent');
    await closeAll();
    await sleep(1_100);

    const reopened = await open(dir);
    assert.equal(await reopened.get('/gone'), undefined);
    assert.equal(await reopened.revision(), kept.revision + 1);

    const recorder = new WatchRecorder();
    const watch = await reopened.watch('/', written.revision, recorder);
    await waitUntil(() => recorder.events.length === 3, 'the history arrived');
    await watch.cancel();
    assert.deepEqual(recorder.summary, [
      `/gone@${written.revision}`,
      `/kept@${kept.revision}`,
      `-/gone@${kept.revision + 1}`,
    ]);
    await closeAll();

    // The deletion was stored: opening again replays it rather than making another.
    const again = await open(dir);
    assert.equal(await again.revision(), kept.revision + 1);
    assert.equal((await again.get('/kept'))?.value, 'permanent');
  });

  it('should keep a key across reopen with the time it had left, then delete it', async function () {
    const dir = join(root, 'unexpired');
    const copy = join(root, 'unexpired-copy');
    const store = await open(dir);
    const started = Date.now();
    const written = await store.put('/k', 'temporary', { ttlSeconds: 2 });

    // A copy of an open store has the write only in its log, not in a snapshot.
    await cp(dir, copy, { recursive: true });
    await closeAll();
    await sleep(1_000);

    const reopened = await open(copy);
    assert.equal((await reopened.get('/k'))?.value, 'temporary');
    assert.equal(await reopened.revision(), written.revision);

    await eventually(async () => (await reopened.get('/k')) === undefined, 'the key is gone');
    const lived = Date.now() - started;
    assert.ok(lived >= 2_000 && lived < 2_800, `the key lived ${lived} ms`);

    const next = written.revision + 1;
    await eventually(async () => (await reopened.revision()) === next, 'the expiry was written');
  });
});

describe('ExpiryQueue', function () {
  it('should take the due keys earliest first, skipping rewritten and cleared ones', function () {
    const queue = new ExpiryQueue();
    const model = new Map<string, number>();
    let seed = 11;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);

    // Few keys rewritten many times, so stale entries pile up and force rebuilds.
    for (let i = 1; i <= 5_000; i++) {
      const key = `/k/${next() % 40}`;
      const expiresAt = next() % 4 === 0 ? undefined : next() % 10_000;
      queue.set(key, expiresAt);
      if (expiresAt === undefined) {
        model.delete(key);
      } else {
        model.set(key, expiresAt);
      }

      if (i % 250 === 0) {
        const now = i * 2;
        const due = queue.takeDue(now);
        const times = due.map((key) => model.get(key) as number);
        assert.ok(
          times.every((time, j) => time <= now && (j === 0 || (times[j - 1] as number) <= time)),
        );
        const expected = [...model].filter(([, time]) => time <= now).map(([key]) => key);
        assert.deepEqual(due.sort(), expected.sort());

        due.forEach((key) => model.delete(key));
        const earliest = Math.min(...model.values());
        assert.equal(queue.next, model.size === 0 ? undefined : earliest);
      }
    }
  });
});

/** A reproducible mix of puts of varied sizes and deletes over a few keys. */
async function writeMixed(store: ConfigStore, count: number): Promise<void> {
  let seed = 7;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);

  for (let i = 0; i < count; i++) {
    const key = `/k/${next() % 6}`;
    if (next() % 5 === 0) {
      await store.delete(key);
    } else {
      await store.put(key, `${i}:${'v'.repeat(next() % 3_000)}`);
    }
  }
}

/** The data at a revision as text, or the compaction that removed it. */
async function readAt(store: ConfigStore, revision: number): Promise<string> {
  try {
    const page = await store.range('/', { revision });
    return page.kvs.map((kv) => `${kv.key}=${kv.modRevision}/${kv.value.length}`).join(' ');
  } catch (error) {
    assert.ok(error instanceof StoreCompactedError);
    return `compacted at ${error.compactRevision}`;
  }
}

/** Bytes of the store's snapshot and log. */
async function filesSize(dir: string, names = ['snapshot.json', 'wal.log']): Promise<number> {
  let total = 0;
  for (const name of names) {
    total += await stat(join(dir, name)).then(
      (stats) => stats.size,
      () => 0,
    );
  }
  return total;
}
