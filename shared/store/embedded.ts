/**
 * The embedded config store: the etcd semantics of `ConfigStore` for a single
 * process, kept in memory and persisted to a data directory (see
 * embedded-log.ts for the files). Writes run one at a time through a queue,
 * and each resolves only once its log record is on disk.
 *
 * A key written with a ttl keeps its expiry time in its log record. When the
 * time comes, a timer deletes it with a logged delete of its own, as etcd's
 * lease expiry does; so does opening the store, or any write, for keys whose
 * time has passed by then. Reads leave such keys out even before that.
 */

import {
  checkKey,
  checkKeyPrefix,
  checkPositiveInteger,
  checkPrefix,
  checkRevision,
  checkWellFormed,
  checkWriteOptions,
  compareKeys,
  entryBytes,
} from './common.js';
import { ExpiryQueue } from './embedded-expiry.js';
import { DataDirLock } from './embedded-lock.js';
import type { LogRecord } from './embedded-log.js';
import { ensureDataDir, WriteAheadLog } from './embedded-log.js';
import type { Change, Version } from './embedded-state.js';
import { isExpired, MvccState, versionBytes } from './embedded-state.js';
import { EmbeddedWatch } from './embedded-watch.js';
import type {
  CasResult,
  ConfigStore,
  DeleteResult,
  KeyValue,
  RangeOptions,
  RangePage,
  Watch,
  WatchHandlers,
  WriteOptions,
  WriteResult,
} from './types.js';
import { StoreCompactedError, StoreFullError, StoreValueTooLargeError } from './types.js';

export interface EmbeddedStoreOptions {
  /** Directory holding the store's files; created (mode 0700) when missing. */
  dataDir: string;
  /** Absolute key prefix without a trailing slash, as for etcd. */
  prefix: string;
  /** Revisions of history kept for reads at a revision and for watches. */
  historyLimit?: number;
  /**
   * Bytes of old versions (values no longer current, and tombstones) kept as
   * history, each counting its key, value and some overhead; the oldest
   * history is compacted away to stay within it.
   */
  historyBytes?: number;
  /** Largest key plus value one write may store, in UTF-8 bytes (as etcd's request limit). */
  maxValueBytes?: number;
  /**
   * Most bytes of current keys and values the store holds, as etcd's quota;
   * each key counts some memory overhead too.
   */
  quotaBytes?: number;
}

type Limits = Required<Omit<EmbeddedStoreOptions, 'dataDir' | 'prefix'>>;

const MiB = 1024 * 1024;
const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  historyLimit: 1_000, // revisions
  historyBytes: 64 * MiB, // bytes of old versions
  maxValueBytes: 1 * MiB, // bytes of one key and its value
  quotaBytes: 128 * MiB, // bytes of current keys and values
});
/**
 * Most quotaBytes + historyBytes: a snapshot is one JSON text, which V8 caps
 * at about 512 Mi characters, and escaping can double a value's length.
 */
const MAX_STATE_BYTES = 256 * MiB;
const SNAPSHOT_EVERY = 1_000; // log records
/** Longest wait between expiry checks while some key has a ttl, for clock changes. */
const EXPIRY_CHECK_MAX_MS = 1_000;

export async function openEmbeddedStore(options: EmbeddedStoreOptions): Promise<ConfigStore> {
  const prefix = checkPrefix(options.prefix);
  const limits = checkLimits(options);

  await ensureDataDir(options.dataDir);
  const lock = await DataDirLock.acquire(options.dataDir);
  try {
    const { log, loaded } = await WriteAheadLog.open(options.dataDir);
    try {
      const snapshot = loaded.snapshot;
      const state = snapshot ? MvccState.fromSnapshot(snapshot.state) : new MvccState();
      // Takes effect when the limits were lowered since the snapshot was written.
      const compacted = state.compactRevision;
      compactToLimits(state, limits);
      const oversized = state.compactRevision !== compacted;
      for (const record of loaded.records) {
        applyRecord(state, record, limits);
      }

      const seq = loaded.records.at(-1)?.seq ?? snapshot?.seq ?? 0;
      const store = new EmbeddedStore({ prefix, limits, state, log, lock, seq });
      // Keys that expired while the store was closed go now, as writes.
      await store.expireNow();
      if (oversized) {
        // Otherwise the larger snapshot would stay until the log outgrew it.
        await store.snapshotNow().catch(() => undefined);
      }
      return store;
    } catch (error) {
      await log.close();
      throw error;
    }
  } catch (error) {
    await lock.release();
    throw error;
  }
}

function checkLimits(options: EmbeddedStoreOptions): Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    limits[name] = checkPositiveInteger(name, options[name] ?? DEFAULT_LIMITS[name]);
  }

  if (limits.quotaBytes + limits.historyBytes > MAX_STATE_BYTES) {
    throw new TypeError(`quotaBytes plus historyBytes must be at most ${MAX_STATE_BYTES}`);
  }
  return Object.freeze(limits);
}

/** Applies one log record, live or on replay, so both reach the same state. */
function applyRecord(state: MvccState, record: LogRecord, limits: Limits): Change | undefined {
  if (record.op === 'compact') {
    state.compact(record.revision);
    return undefined;
  }

  if (record.revision !== state.revision + 1) {
    throw new Error(`log record ${record.seq} has revision ${record.revision}, not the next one`);
  }

  const change =
    record.op === 'put'
      ? state.put(record.key, record.value, record.expiresAt)
      : state.delete(record.key);
  compactToLimits(state, limits);
  return change;
}

/**
 * Drops the oldest history beyond the revision and byte limits. The choice
 * depends on the state alone, which the log determines, so replay compacts
 * the same way as the writes did.
 */
function compactToLimits(state: MvccState, limits: Limits): void {
  const byRevisions = state.revision - limits.historyLimit;
  const byBytes = state.compactionFor(limits.historyBytes);
  const target = Math.max(byRevisions, byBytes);

  if (target > state.compactRevision) {
    state.compact(target);
  }
}

interface StoreParts {
  prefix: string;
  limits: Limits;
  state: MvccState;
  log: WriteAheadLog;
  lock: DataDirLock;
  seq: number;
}

class EmbeddedStore implements ConfigStore {
  readonly kind = 'embedded';
  readonly prefix: string;
  readonly #limits: Limits;
  readonly #state: MvccState;
  readonly #log: WriteAheadLog;
  readonly #lock: DataDirLock;
  readonly #watches = new Set<EmbeddedWatch>();
  readonly #expiry = new ExpiryQueue();
  #expiryTimer: NodeJS.Timeout | undefined;
  /** When the expiry timer fires (Infinity when none is set). */
  #expiryDueAt = Infinity;
  #seq: number;
  #tail: Promise<unknown> = Promise.resolve();
  /** The log size, in records and in bytes, that calls for the next snapshot. */
  #snapshotAt = SNAPSHOT_EVERY;
  #snapshotAtBytes: number;
  #snapshotQueued = false;
  #closed = false;
  /** The error of a failed log append; no write is accepted after one. */
  #failure: unknown;

  constructor(parts: StoreParts) {
    this.prefix = parts.prefix;
    this.#limits = parts.limits;
    this.#state = parts.state;
    this.#log = parts.log;
    this.#lock = parts.lock;
    this.#seq = parts.seq;
    this.#snapshotAtBytes = this.#logBytesBudget();
    for (const [key, expiresAt] of this.#state.expiring()) {
      this.#expiry.set(key, expiresAt);
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.#checkOpen();
    const fullKey = this.prefix + checkKey(key);
    const version = this.#state.get(fullKey);
    if (version === undefined || isExpired(version, Date.now())) {
      return undefined;
    }
    return this.#toKeyValue(fullKey, version);
  }

  async range(keyPrefix: string, options: RangeOptions = {}): Promise<RangePage> {
    this.#checkOpen();
    const fullPrefix = this.prefix + checkKeyPrefix(keyPrefix);
    const revision = this.#readRevision(options.revision ?? 0);

    let start = fullPrefix;
    if (options.after !== undefined) {
      const afterKey = `${this.prefix}${options.after}\0`;
      start = compareKeys(afterKey, start) > 0 ? afterKey : start;
    }

    const limit = checkRevision('limit', options.limit ?? 0);
    const { entries, more } = this.#state.range(fullPrefix, start, revision, limit, Date.now());
    const kvs = entries.map(([key, version]) => this.#toKeyValue(key, version));
    return { kvs, revision, more };
  }

  async revision(): Promise<number> {
    this.#checkOpen();
    return this.#state.revision;
  }

  // The writes are async so that a bad argument rejects rather than throws.
  async put(key: string, value: string, options?: WriteOptions): Promise<WriteResult> {
    const fullKey = this.#checkEntry(key, value);
    const ttl = checkWriteOptions(options);
    return this.#write(async () => ({ revision: await this.#commitPut(fullKey, value, ttl) }));
  }

  async create(key: string, value: string, options?: WriteOptions): Promise<CasResult> {
    const fullKey = this.#checkEntry(key, value);
    const ttl = checkWriteOptions(options);
    return this.#write(async () => {
      const current = this.#state.get(fullKey);
      if (current !== undefined) {
        return this.#casFailure(fullKey, current);
      }

      return { succeeded: true, revision: await this.#commitPut(fullKey, value, ttl) };
    });
  }

  async compareAndSet(
    key: string,
    value: string,
    expectedModRevision: number,
    options?: WriteOptions,
  ): Promise<CasResult> {
    const fullKey = this.#checkEntry(key, value);
    checkRevision('expectedModRevision', expectedModRevision);
    const ttl = checkWriteOptions(options);
    return this.#write(async () => {
      const current = this.#state.get(fullKey);
      // Like etcd, a missing key compares as modRevision 0.
      if ((current?.modRevision ?? 0) !== expectedModRevision) {
        return this.#casFailure(fullKey, current);
      }

      return { succeeded: true, revision: await this.#commitPut(fullKey, value, ttl) };
    });
  }

  async delete(key: string): Promise<DeleteResult> {
    const fullKey = this.prefix + checkKey(key);
    return this.#write(async () => {
      const current = this.#state.get(fullKey);
      if (current === undefined) {
        return { deleted: 0, revision: this.#state.revision };
      }

      const revision = await this.#commitDelete(fullKey);
      return { deleted: 1, revision, previous: this.#toKeyValue(fullKey, current) };
    });
  }

  async compareAndDelete(key: string, expectedModRevision: number): Promise<CasResult> {
    const fullKey = this.prefix + checkKey(key);
    checkRevision('expectedModRevision', expectedModRevision);
    return this.#write(async () => {
      const current = this.#state.get(fullKey);
      if ((current?.modRevision ?? 0) !== expectedModRevision) {
        return this.#casFailure(fullKey, current);
      }

      // Expecting 0 for a missing key succeeds without a write, as in etcd.
      if (current === undefined) {
        return { succeeded: true, revision: this.#state.revision };
      }
      return { succeeded: true, revision: await this.#commitDelete(fullKey) };
    });
  }

  async watch(keyPrefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    this.#checkOpen();
    const fullPrefix = this.prefix + checkKeyPrefix(keyPrefix);
    checkRevision('fromRevision', fromRevision);
    const start = fromRevision > 0 ? fromRevision : this.#state.revision + 1;

    const watch = new EmbeddedWatch({
      state: this.#state,
      prefixLength: this.prefix.length,
      fullPrefix,
      next: start,
      handlers,
      onEnd: (ended) => this.#watches.delete(ended),
    });
    this.#watches.add(watch);
    watch.schedule();

    return { cancel: async () => watch.cancel() };
  }

  async compact(revision: number): Promise<void> {
    checkRevision('revision', revision);
    return this.#write(async () => {
      if (revision <= this.#state.compactRevision) {
        throw new StoreCompactedError(this.#state.compactRevision);
      }
      if (revision > this.#state.revision) {
        throw futureRevisionError(revision, this.#state.revision);
      }

      await this.#commit({ seq: this.#seq + 1, op: 'compact', revision });
    });
  }

  /**
   * Deletes the keys whose time has passed (every write does so first), then
   * sets the timer for the next one.
   */
  async expireNow(): Promise<void> {
    await this.#write(async () => undefined);
    this.#armExpiry();
  }

  /** Rewrites the snapshot now, even when no write was logged since the last one. */
  snapshotNow(): Promise<void> {
    return this.#enqueue(() => this.#snapshot(true));
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }

    this.#closed = true;
    clearTimeout(this.#expiryTimer);
    for (const watch of this.#watches) {
      watch.cancel();
    }

    // Writes queue snapshots behind themselves, so wait until the queue stays empty.
    let tail: Promise<unknown>;
    do {
      tail = this.#tail;
      await tail;
    } while (tail !== this.#tail);

    // A final snapshot makes the next open fast; the log is complete without it.
    await this.#snapshot().catch(() => undefined);
    await this.#log.close();
    await this.#lock.release();
  }

  async #commitPut(fullKey: string, value: string, ttl: number | undefined): Promise<number> {
    const current = this.#state.get(fullKey);
    const freed = current === undefined ? 0 : versionBytes(fullKey, current.value);
    const added = versionBytes(fullKey, value);
    // A write that does not grow the data passes, so a full store can shrink values.
    const { quotaBytes } = this.#limits;
    if (added > freed && this.#state.liveBytes - freed + added > quotaBytes) {
      throw new StoreFullError(
        `the store is full (quota ${quotaBytes} bytes); delete keys to make room`,
      );
    }

    // Limitation: expiry times follow the wall clock, so that they hold across
    // restarts; setting the clock forward expires keys early, back keeps them longer.
    const expiresAt = ttl === undefined ? undefined : Date.now() + ttl * 1_000;
    const revision = this.#state.revision + 1;
    const record = { seq: this.#seq + 1, op: 'put', revision, key: fullKey, value } as const;
    await this.#commit(expiresAt === undefined ? record : { ...record, expiresAt });
    return revision;
  }

  async #commitDelete(fullKey: string): Promise<number> {
    const revision = this.#state.revision + 1;
    await this.#commit({ seq: this.#seq + 1, op: 'delete', revision, key: fullKey });
    return revision;
  }

  /** Makes a record durable, then applies it: memory never runs ahead of the disk. */
  async #commit(record: LogRecord): Promise<void> {
    try {
      await this.#log.append(record);
    } catch (error) {
      this.#failure = error;
      throw error;
    }

    this.#seq = record.seq;
    const change = applyRecord(this.#state, record, this.#limits);
    if (change !== undefined) {
      this.#track(change);
    }
    for (const watch of this.#watches) {
      watch.schedule();
    }

    const due = this.#log.records >= this.#snapshotAt || this.#log.bytes >= this.#snapshotAtBytes;
    if (due && !this.#snapshotQueued) {
      // Queued behind this write rather than awaited, so the writer need not wait for it.
      this.#snapshotQueued = true;
      void this.#enqueue(() => {
        this.#snapshotQueued = false;
        return this.#snapshot();
      }).catch(() => undefined);
    }
  }

  /** Keeps the expiry queue in step with a change, and the timer with the queue. */
  #track({ key, version }: Change): void {
    const expiresAt = version.value === null ? undefined : version.expiresAt;
    this.#expiry.set(key, expiresAt);
    if (expiresAt !== undefined && expiresAt < this.#expiryDueAt) {
      this.#armExpiry();
    }
  }

  /** Deletes the keys expired by now, one write each, as etcd revokes each expired lease. */
  async #expireDue(): Promise<void> {
    for (const key of this.#expiry.takeDue(Date.now())) {
      if (this.#state.get(key) !== undefined) {
        await this.#commitDelete(key);
      }
    }
  }

  /**
   * Sets the timer for the next expiry, checking at least once a second in
   * case the clock moved; none while no key expires or the store is closed.
   */
  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#expiryDueAt = Infinity;

    const next = this.#expiry.next;
    if (next === undefined || this.#closed || this.#failure !== undefined) {
      return;
    }

    const now = Date.now();
    const delay = Math.min(Math.max(next - now, 0), EXPIRY_CHECK_MAX_MS);
    this.#expiryDueAt = now + delay;
    // A failed deletion leaves the store refusing writes, which the next write reports.
    this.#expiryTimer = setTimeout(() => void this.expireNow().catch(() => undefined), delay);
    this.#expiryTimer.unref();
  }

  async #snapshot(force = false): Promise<void> {
    if ((this.#log.records === 0 && !force) || this.#failure !== undefined) {
      return;
    }

    try {
      await this.#log.writeSnapshot({ format: 1, seq: this.#seq, state: this.#state.toSnapshot() });
      this.#snapshotAt = SNAPSHOT_EVERY;
      this.#snapshotAtBytes = this.#logBytesBudget();
    } catch (error) {
      // Limitation: a failing snapshot is only retried after as many records
      // or bytes again, and nothing reports it; the log keeps every write
      // meanwhile, and one over 2 GiB cannot be read back on open.
      this.#snapshotAt = this.#log.records + SNAPSHOT_EVERY;
      this.#snapshotAtBytes = this.#log.bytes + this.#logBytesBudget();
      throw error;
    }
  }

  /**
   * The log grows to the history budget or the snapshot's size, whichever is
   * larger: the files stay within about twice the state, and rewriting the
   * snapshot costs at most about one byte per byte logged.
   */
  #logBytesBudget(): number {
    return Math.max(this.#limits.historyBytes, this.#log.snapshotBytes);
  }

  #write<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(closedError());
    }

    return this.#enqueue(async () => {
      if (this.#failure !== undefined) {
        throw new Error('embedded store refuses writes after a failed one; reopen it', {
          cause: this.#failure,
        });
      }

      await this.#expireDue();
      return operation();
    });
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Checks a key and value to write; returns the full key. */
  #checkEntry(key: string, value: string): string {
    const fullKey = this.prefix + checkKey(key);
    checkWellFormed('value', value);

    const { maxValueBytes } = this.#limits;
    if (entryBytes(fullKey, value) > maxValueBytes) {
      throw new StoreValueTooLargeError(maxValueBytes);
    }
    return fullKey;
  }

  #readRevision(requested: number): number {
    checkRevision('revision', requested);
    const { revision, compactRevision } = this.#state;
    if (requested === 0) {
      return revision;
    }

    if (requested < compactRevision) {
      throw new StoreCompactedError(compactRevision);
    }
    if (requested > revision) {
      throw futureRevisionError(requested, revision);
    }
    return requested;
  }

  #casFailure(fullKey: string, current: Version | undefined): CasResult {
    const result: CasResult = { succeeded: false, revision: this.#state.revision };
    if (current !== undefined) {
      result.current = this.#toKeyValue(fullKey, current);
    }
    return result;
  }

  #toKeyValue(fullKey: string, version: Version): KeyValue {
    return {
      key: fullKey.slice(this.prefix.length),
      value: version.value ?? '',
      createRevision: version.createRevision,
      modRevision: version.modRevision,
      version: version.version,
    };
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw closedError();
    }
  }
}

function closedError(): Error {
  return new Error('embedded store is closed');
}

function futureRevisionError(requested: number, current: number): Error {
  return new RangeError(`revision ${requested} is in the future (store is at ${current})`);
}
