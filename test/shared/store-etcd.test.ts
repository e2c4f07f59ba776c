import assert from 'node:assert/strict';

import { BrokenCircuitError } from 'cockatiel';
import {
  Etcd3,
  GRPCAbortedError,
  GRPCDeadlineExceededError,
  GRPCInternalError,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
  GRPCUnknownError,
} from 'etcd3';

import { mapEtcdError, ResponseTooLargeError } from '../../shared/store/etcd-errors.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore, KeyValue } from '../../shared/store/types.js';
import {
  StoreFullError,
  StoreUnavailableError,
  StoreValueTooLargeError,
} from '../../shared/store/types.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import { waitUntil, WatchRecorder } from '../harness/watch-recorder.js';

const MB = 1_000_000;
const MiB = 1024 * 1024;

describe('ConfigStore on etcd, large values', function () {
  this.timeout(60_000);
  let etcd: TestEtcd;
  let opened: ConfigStore[] = [];

  before(async () => void (etcd = await startTestEtcd()));
  after(async () => etcd?.stop());
  afterEach(async () => {
    await Promise.all(opened.map((store) => store.close()));
    opened = [];
  });

  function open(name: string, options: { maxResponseBytes?: number; maxValueBytes?: number } = {}) {
    const store = createEtcdStore({
      endpoints: etcd.endpoints,
      prefix: uniquePrefix(name),
      ...options,
    });
    opened.push(store);
    return store;
  }

  /** Writes `count` values of about 1 MB under `/big/`; returns the first revision. */
  async function writeLarge(store: ConfigStore, count: number): Promise<number> {
    const revisions: number[] = [];
    for (let i = 0; i < count; i++) {
      revisions.push((await store.put(`/big/${i}`, String(i).repeat(MB))).revision);
    }
    return revisions[0] as number;
  }

  // gRPC's default 4 MiB limit failed the page, which was then reported as unavailable.
  it('should list six 1 MB values in one call', async function () {
    const store = open('six-values');
    await writeLarge(store, 6);

    const page = await store.range('/big/', { limit: 500 });
    assert.equal(page.kvs.length, 6);
    assert.equal(page.more, false);
    assert.ok(page.kvs.every((kv, i) => kv.value.length === MB && kv.value[0] === String(i)));
  });

  it('should page in smaller pages when a page exceeds maxResponseBytes', async function () {
    const store = open('halving', { maxResponseBytes: 3 * MiB });
    await writeLarge(store, 6);

    for (const limit of [500, 0]) {
      const first = await store.range('/big/', { limit });
      assert.ok(first.more && first.kvs.length < 6, 'the first page came back shorter');

      const listed = await listAll(store, first);
      assert.deepEqual(
        listed.map((kv) => kv.key),
        ['/big/0', '/big/1', '/big/2', '/big/3', '/big/4', '/big/5'],
      );
    }
  });

  it('should fail a single value past maxResponseBytes without calling etcd unavailable', async function () {
    const store = open('one-too-large', { maxResponseBytes: MB / 2 });
    await store.put('/big/0', 'x'.repeat(MB));

    await assert.rejects(store.range('/big/'), (error: unknown) => {
      assert.ok(!(error instanceof StoreUnavailableError));
      assert.ok(error instanceof ResponseTooLargeError);
      return true;
    });
  });

  it('should refuse a value past etcd --max-request-bytes as too large', async function () {
    const store = open('request-too-large');
    const before = await store.revision();

    // Past the request limit etcd answers itself; past it plus 512 KiB, gRPC does.
    for (const size of [1_600_000, 2 * MiB + 1]) {
      await assert.rejects(store.put('/v', 'x'.repeat(size)), (error: unknown) => {
        assert.ok(error instanceof StoreValueTooLargeError);
        assert.equal(error.limitBytes, 1_572_864);
        return true;
      });
    }
    assert.equal(await store.revision(), before);
  });

  it('should refuse a value past maxValueBytes before sending it', async function () {
    const store = open('client-limit', { maxValueBytes: 1_000 });
    const before = await store.revision();

    await assert.rejects(store.put('/v', 'x'.repeat(1_000)), (error: unknown) => {
      assert.ok(error instanceof StoreValueTooLargeError);
      assert.equal(error.limitBytes, 1_000);
      return true;
    });
    await store.put('/v', 'x'.repeat(500));
    assert.equal(await store.revision(), before + 1);
  });

  // The catch-up response was larger than one message: the watch stream failed and
  // retried forever. (etcd 3.4 may still send one catch-up unfragmented, see
  // etcd-watch.ts, so a reconnect on the way is allowed.)
  it('should deliver history of large values to a watch', async function () {
    const store = open('watch-large', { maxResponseBytes: 3 * MiB });
    const first = await writeLarge(store, 6);

    const recorder = new WatchRecorder();
    const watch = await store.watch('/big/', first, recorder);
    await waitUntil(() => recorder.events.length === 6, 'six events arrived', 20_000);
    await watch.cancel();

    assert.deepEqual(
      recorder.summary,
      Array.from({ length: 6 }, (_, i) => `/big/${i}@${first + i}`),
    );
  });

  it('should deliver a revision that etcd splits across fragments whole', async function () {
    const prefix = uniquePrefix('fragments');
    const store = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    opened.push(store);
    const first = await store.put('/f/a', 'a'.repeat(MB));

    // Two keys in one revision. etcd 3.4 cuts fragments at 2 MiB, between them.
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      const b = client.put(`${prefix}/f/b`).value('b'.repeat(700_000));
      const c = client.put(`${prefix}/f/c`).value('c'.repeat(700_000));
      await client.if(`${prefix}/f/a`, 'Mod', '==', first.revision).then(b, c).commit();
    } finally {
      client.close();
    }

    const recorder = new WatchRecorder();
    const watch = await store.watch('/f/', first.revision, recorder);
    await waitUntil(() => recorder.events.length === 3, 'three events arrived');
    await watch.cancel();

    const second = first.revision + 1;
    assert.deepEqual(
      recorder.batches.map((batch) => batch.length),
      [1, 2],
    );
    assert.deepEqual(recorder.summary, [
      `/f/a@${first.revision}`,
      `/f/b@${second}`,
      `/f/c@${second}`,
    ]);
  });
});

describe('mapEtcdError', function () {
  const context = (operation: string) => ({
    operation,
    maxValueBytes: undefined,
    readCompactRevision: async () => 0,
  });

  const cases: [string, Error, string, (new (...args: never[]) => Error) | undefined][] = [
    [
      'no connection',
      new GRPCUnavailableError('14 UNAVAILABLE: No connection established'),
      'get',
      StoreUnavailableError,
    ],
    [
      'a deadline',
      new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'),
      'put',
      StoreUnavailableError,
    ],
    [
      'etcd shedding load',
      new GRPCResourceExhastedError('8 RESOURCE_EXHAUSTED: etcdserver: too many requests'),
      'put',
      StoreUnavailableError,
    ],
    [
      'a large answer',
      new GRPCResourceExhastedError(
        '8 RESOURCE_EXHAUSTED: Received message larger than max (6000148 vs 4194304)',
      ),
      'range',
      ResponseTooLargeError,
    ],
    [
      'a large request',
      new GRPCResourceExhastedError(
        '8 RESOURCE_EXHAUSTED: grpc: received message larger than max (2097161 vs. 2097152)',
      ),
      'put',
      StoreValueTooLargeError,
    ],
    [
      'a large request etcd refused',
      new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: request is too large'),
      'compareAndSet',
      StoreValueTooLargeError,
    ],
    [
      'a full etcd',
      new GRPCResourceExhastedError(
        '8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded',
      ),
      'create',
      StoreFullError,
    ],
    [
      'an internal error',
      new GRPCInternalError('13 INTERNAL: Received RST_STREAM with code 2'),
      'get',
      undefined,
    ],
    [
      'an unknown error',
      new GRPCUnknownError('2 UNKNOWN: etcdserver: something'),
      'put',
      undefined,
    ],
    ['an aborted call', new GRPCAbortedError('10 ABORTED: aborted'), 'put', undefined],
    ['every member passed over', new BrokenCircuitError(), 'put', StoreUnavailableError],
  ];

  for (const [name, error, operation, expected] of cases) {
    it(`should map ${name} to ${expected?.name ?? 'itself'}`, async function () {
      const mapped = await mapEtcdError(error, context(operation));
      if (expected === undefined) {
        assert.equal(mapped, error);
      } else {
        assert.ok(mapped instanceof expected, `got ${String(mapped)}`);
        assert.equal((mapped as Error).cause, error);
      }
    });
  }
});

async function listAll(
  store: ConfigStore,
  first: { kvs: KeyValue[]; more: boolean; revision: number },
): Promise<KeyValue[]> {
  const listed = [...first.kvs];
  let page = first;
  while (page.more) {
    const after = listed.at(-1)?.key;
    page = await store.range('/big/', { limit: 500, after, revision: first.revision });
    listed.push(...page.kvs);
  }
  return listed;
}
