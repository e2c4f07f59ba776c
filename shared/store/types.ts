/**
 * The config store: the only state the planes share.
 *
 * Two backends implement this interface with the same semantics: etcd (for
 * clusters) and an embedded single-process store persisted to a file (for a
 * machine with no etcd). Keys given to and returned by a store are relative
 * to its prefix: with the prefix `/apisix`, the key `/routes/1` lives in etcd
 * as `/apisix/routes/1`.
 *
 * Revisions follow etcd: one global counter that every successful write
 * increments; each key remembers the revision that created it
 * (`createRevision`) and the one that last modified it (`modRevision`).
 */

export interface KeyValue {
  /** Key relative to the store prefix, always starting with `/`. */
  key: string;
  /** The raw stored value; resources are JSON text. */
  value: string;
  createRevision: number;
  modRevision: number;
  /** Number of writes to this key since it was created (1 after creation). */
  version: number;
}

export interface RangeOptions {
  /** At most this many keys per page; 0 or absent means no limit. */
  limit?: number;
  /** Return only keys strictly greater than this one (the last key of the previous page). */
  after?: string;
  /**
   * Read the data as it was at this revision, so that every page of one
   * listing sees the same snapshot. Fails with `StoreCompactedError` when the
   * revision has been compacted away.
   */
  revision?: number;
}

export interface RangePage {
  kvs: KeyValue[];
  /** The revision the page was read at (the store's revision when none was asked for). */
  revision: number;
  /** True when more keys match after the last one returned. */
  more: boolean;
}

export interface WriteOptions {
  /**
   * Seconds after which the store deletes the key by itself (an etcd lease),
   * an integer from 1 to 31,536,000. The deletion is a write of its own: a
   * new revision and a delete event. A later write without it makes the key
   * permanent again. The time is approximate: etcd rounds short leases up to
   * its minimum (about 2 s by default) and restarts them when its leader
   * changes.
   */
  ttlSeconds?: number;
}

export interface WriteResult {
  /** The store revision after the write. */
  revision: number;
}

export interface CasResult {
  succeeded: boolean;
  /** The store revision after the write, or the current one when it failed. */
  revision: number;
  /** On failure, the key as it currently is (absent when it does not exist). */
  current?: KeyValue;
}

export interface DeleteResult {
  /** Number of keys deleted (0 or 1). */
  deleted: number;
  revision: number;
  /** The key as it was before deletion. */
  previous?: KeyValue;
}

export type WatchEvent =
  { type: 'put'; kv: KeyValue } | { type: 'delete'; key: string; modRevision: number };

export interface WatchHandlers {
  /** Events of one revision arrive in one call, in revision order. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The requested start revision was compacted: the watch has ended and the
   * caller must read everything again and watch from the new revision.
   */
  onCompacted(compactRevision: number): void;
  /** The connection to the store was lost (the watch resumes by itself when it returns). */
  onDisconnected?(error: Error): void;
  /** The connection to the store is back and the watch is live. */
  onConnected?(): void;
}

export interface Watch {
  /** Stops the watch; no handler runs after the returned promise resolves. */
  cancel(): Promise<void>;
}

export interface ConfigStore {
  /** Human-readable backend name for logs and status documents. */
  readonly kind: 'etcd' | 'embedded';
  /** Absolute key prefix, without a trailing slash (for example `/apisix`). */
  readonly prefix: string;

  get(key: string): Promise<KeyValue | undefined>;
  /** Keys starting with `keyPrefix`, sorted by key. */
  range(keyPrefix: string, options?: RangeOptions): Promise<RangePage>;
  /** The current store revision. */
  revision(): Promise<number>;

  put(key: string, value: string, options?: WriteOptions): Promise<WriteResult>;
  /** Writes only if the key does not exist yet. */
  create(key: string, value: string, options?: WriteOptions): Promise<CasResult>;
  /** Writes only if the key's `modRevision` is still `expectedModRevision`. */
  compareAndSet(
    key: string,
    value: string,
    expectedModRevision: number,
    options?: WriteOptions,
  ): Promise<CasResult>;
  delete(key: string): Promise<DeleteResult>;
  /** Deletes only if the key's `modRevision` is still `expectedModRevision`. */
  compareAndDelete(key: string, expectedModRevision: number): Promise<CasResult>;

  /**
   * Watches keys starting with `keyPrefix` from `fromRevision` (inclusive).
   * Resolves once the watch is registered.
   */
  watch(keyPrefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;

  /** Discards history before `revision`; watches and reads older than it fail. */
  compact(revision: number): Promise<void>;

  close(): Promise<void>;
}

/** The store could not be reached or did not answer in time. */
export class StoreUnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A read asked for a revision that was compacted away. */
export class StoreCompactedError extends Error {
  readonly code = 'STORE_COMPACTED';
  constructor(readonly compactRevision: number) {
    super(`revision has been compacted (compacted up to ${compactRevision})`);
    this.name = 'StoreCompactedError';
  }
}

/**
 * A write was refused because its key and value are larger than the store
 * accepts; nothing was written.
 */
export class StoreValueTooLargeError extends Error {
  readonly code = 'STORE_VALUE_TOO_LARGE';
  constructor(
    readonly limitBytes: number,
    options?: { cause?: unknown },
  ) {
    super(`the value is too large for the store (limit about ${limitBytes} bytes)`, options);
    this.name = 'StoreValueTooLargeError';
  }
}

/**
 * A write was refused because the store holds as much data as it may (its
 * quota); nothing was written. Deleting keys makes room again.
 */
export class StoreFullError extends Error {
  readonly code = 'STORE_FULL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreFullError';
  }
}
