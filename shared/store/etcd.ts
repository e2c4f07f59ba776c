/**
 * The etcd config store, over the etcd3 client's low-level KV calls (its
 * builders cannot page at a revision or compare create revisions).
 *
 * Every call fails within `timeoutMs` with `StoreUnavailableError` when etcd
 * is away: each call carries a gRPC deadline, a timer races it in case the
 * client waits elsewhere, and a call moves to another member only when the
 * one it tried could not be reached (see `clientOptions`).
 * Only connection failures are reported that way; etcd refusing a request
 * keeps its own error (see `mapEtcdError`).
 *
 * A write with `ttlSeconds` grants a lease of its own and attaches the key to
 * it. Leases are never kept alive, so no stream or timer outlives a call.
 */

import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

import {
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  noop,
  retry,
} from 'cockatiel';
import type { CircuitBreakerPolicy, IPolicy } from 'cockatiel';
import type {
  ICompare,
  IKeyValue,
  IOptions,
  IPutRequest,
  IRangeRequest,
  IRangeResponse,
  IRequestOp,
  ITxnResponse,
} from 'etcd3';
import { Etcd3, GRPCUnavailableError, isRecoverableError } from 'etcd3';

import {
  checkKey,
  checkKeyPrefix,
  checkPositiveInteger,
  checkPrefix,
  checkRevision,
  checkWellFormed,
  checkWriteOptions,
  entryBytes,
  withTimeout,
} from './common.js';
import { mapEtcdError, ResponseTooLargeError } from './etcd-errors.js';
import { EtcdWatch, readCompactRevision } from './etcd-watch.js';
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
import { StoreUnavailableError, StoreValueTooLargeError } from './types.js';

export interface EtcdStoreOptions {
  /** etcd client URLs, such as `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Absolute key prefix without a trailing slash, such as `/apisix`. */
  prefix: string;
  /** Longest wait for one call before it fails as unavailable. */
  timeoutMs?: number;
  username?: string;
  password?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /**
   * When set, a write whose key plus value is larger fails here, before it
   * reaches etcd; etcd's own limit (`--max-request-bytes`) applies either way.
   */
  maxValueBytes?: number;
  /** Largest gRPC message taken from etcd; a range page past it is fetched in smaller pages. */
  maxResponseBytes?: number;
  /**
   * Milliseconds between pings on a connection with calls or a watch open,
   * and how long a ping may go unanswered before the connection is dropped.
   * etcd refuses pings more often than its `--grpc-keepalive-min-time` (5 s).
   */
  keepaliveMs?: number;
}

const DEFAULT_TIMEOUT_MS = 3_000;
const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024; // bytes
/** The default of `keepaliveMs`. */
const KEEPALIVE_MS = 10_000;
/** How long a member that failed a call is passed over before it is tried again, at first. */
const MEMBER_RETRY_AFTER_MS = 2_000;
/** The longest a member that keeps failing is passed over between tries. */
const MEMBER_RETRY_MAX_MS = 30_000;
/** Longest pause between watch reconnection attempts. */
const WATCH_RETRY_MAX_MS = 2_000;

export function createEtcdStore(options: EtcdStoreOptions): ConfigStore {
  if (options.endpoints.length === 0) {
    throw new TypeError('endpoints must list at least one etcd URL');
  }

  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
  }

  const prefix = checkPrefix(options.prefix);
  const { maxValueBytes, maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES } = options;
  if (maxValueBytes !== undefined) {
    checkPositiveInteger('maxValueBytes', maxValueBytes);
  }
  checkPositiveInteger('maxResponseBytes', maxResponseBytes);

  const client = new Etcd3(clientOptions(options, timeoutMs, maxResponseBytes));
  return new EtcdStore({ client, prefix, timeoutMs, maxValueBytes });
}

function clientOptions(
  options: EtcdStoreOptions,
  timeoutMs: number,
  maxResponseBytes: number,
): IOptions {
  const withDeadline = () => ({ deadline: Date.now() + timeoutMs });
  const result: IOptions = {
    hosts: options.endpoints,
    // gRPC's default of 4 MiB is a few large values: a page past it fails.
    grpcOptions: {
      'grpc.max_receive_message_length': maxResponseBytes,
      // A member that hangs (stopped, or cut off without a reset) keeps its
      // connection open: pings while a call or watch is open find it out, so
      // a watch moves to another member instead of waiting for events that
      // never come. etcd refuses pings more often than every 5 s by default.
      'grpc.keepalive_time_ms': options.keepaliveMs ?? KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': options.keepaliveMs ?? KEEPALIVE_MS,
    },
    // With one endpoint: one attempt per call and no circuit breaker, so an
    // outage shows within timeoutMs and the first call after etcd is back
    // goes through. With several, see `memberPolicies`.
    faultHandling: {
      host: options.endpoints.length > 1 ? memberPolicies() : () => noop,
      // Only a call that never reached a member moves on to the next one: a
      // call that timed out may still be applied, and the caller has been
      // told it failed by then.
      global:
        options.endpoints.length > 1
          ? retry(handleWhen(isMemberUnreachable), { maxAttempts: options.endpoints.length - 1 })
          : noop,
      // etcd3 types this as a backoff but calls next() on it first; a backoff is also a factory.
      watchBackoff: new ExponentialBackoff({
        initialDelay: 100,
        maxDelay: WATCH_RETRY_MAX_MS,
      }).next(),
    },
    defaultCallOptions: (context) => (context.isStream ? {} : withDeadline()),
  };

  if (options.username !== undefined) {
    const password = options.password ?? '';
    result.auth = { username: options.username, password, callOptions: withDeadline };
  }

  if (options.tls !== undefined) {
    const { caFile, certFile, keyFile } = options.tls;
    result.credentials = {
      // Without a CA file, trust the same roots as Node does.
      rootCertificate: caFile ? readFileSync(caFile) : Buffer.from(rootCertificates.join('\n')),
      certChain: certFile ? readFileSync(certFile) : undefined,
      privateKey: keyFile ? readFileSync(keyFile) : undefined,
    };
  }
  return result;
}

interface StoreParts {
  client: Etcd3;
  prefix: string;
  timeoutMs: number;
  maxValueBytes: number | undefined;
}

class EtcdStore implements ConfigStore {
  readonly kind = 'etcd';
  readonly prefix: string;
  readonly #client: Etcd3;
  readonly #timeoutMs: number;
  readonly #maxValueBytes: number | undefined;
  readonly #watches = new Set<EtcdWatch>();
  #closed = false;

  constructor(parts: StoreParts) {
    this.#client = parts.client;
    this.prefix = parts.prefix;
    this.#timeoutMs = parts.timeoutMs;
    this.#maxValueBytes = parts.maxValueBytes;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const request = { key: this.#key(key) };
    const response = await this.#call('get', () => this.#client.kv.range(request));
    const kv = response.kvs[0];
    return kv && this.#toKeyValue(kv);
  }

  async range(keyPrefix: string, options: RangeOptions = {}): Promise<RangePage> {
    const start = Buffer.from(this.prefix + checkKeyPrefix(keyPrefix));
    let from = start;
    if (options.after !== undefined) {
      const afterKey = Buffer.from(`${this.prefix}${options.after}\0`);
      from = Buffer.compare(afterKey, start) > 0 ? afterKey : start;
    }

    const revision = checkRevision('revision', options.revision ?? 0);
    const limit = checkRevision('limit', options.limit ?? 0);
    const request = { key: from, range_end: prefixEnd(start), limit, revision };
    const response = await this.#rangeFitting(request, limit);

    return {
      kvs: response.kvs.map((kv) => this.#toKeyValue(kv)),
      // The header holds the current revision, not the one read at.
      revision: revision > 0 ? revision : Number(response.header.revision),
      more: response.more,
    };
  }

  async revision(): Promise<number> {
    const request = { key: Buffer.from(`${this.prefix}\0`), count_only: true };
    const response = await this.#call('revision', () => this.#client.kv.range(request));
    return Number(response.header.revision);
  }

  // The writes are async so that a bad argument rejects rather than throws.
  async put(key: string, value: string, options?: WriteOptions): Promise<WriteResult> {
    const put = { key: this.#key(key), value: this.#value(key, value) };
    const ttl = checkWriteOptions(options);
    const response = await this.#call('put', async () =>
      this.#client.kv.put(await this.#leased(put, ttl)),
    );
    return { revision: Number(response.header.revision) };
  }

  async create(key: string, value: string, options?: WriteOptions): Promise<CasResult> {
    const fullKey = this.#key(key);
    const compare: ICompare = {
      key: fullKey,
      target: 'Create',
      result: 'Equal',
      create_revision: 0,
    };
    const put = { key: fullKey, value: this.#value(key, value) };
    const ttl = checkWriteOptions(options);
    return this.#compareAnd('create', fullKey, compare, async () => ({
      request_put: await this.#leased(put, ttl),
    }));
  }

  async compareAndSet(
    key: string,
    value: string,
    expectedModRevision: number,
    options?: WriteOptions,
  ): Promise<CasResult> {
    const fullKey = this.#key(key);
    const compare = modEquals(fullKey, expectedModRevision);
    const put = { key: fullKey, value: this.#value(key, value) };
    const ttl = checkWriteOptions(options);
    return this.#compareAnd('compareAndSet', fullKey, compare, async () => ({
      request_put: await this.#leased(put, ttl),
    }));
  }

  async delete(key: string): Promise<DeleteResult> {
    const request = { key: this.#key(key), prev_kv: true };
    const response = await this.#call('delete', () => this.#client.kv.deleteRange(request));

    const result: DeleteResult = {
      deleted: Number(response.deleted),
      revision: Number(response.header.revision),
    };
    const previous = response.prev_kvs[0];
    if (previous !== undefined) {
      result.previous = this.#toKeyValue(previous);
    }
    return result;
  }

  async compareAndDelete(key: string, expectedModRevision: number): Promise<CasResult> {
    const fullKey = this.#key(key);
    const compare = modEquals(fullKey, expectedModRevision);
    return this.#compareAnd('compareAndDelete', fullKey, compare, async () => ({
      request_delete_range: { key: fullKey },
    }));
  }

  async watch(keyPrefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    const fullPrefix = this.prefix + checkKeyPrefix(keyPrefix);
    checkRevision('fromRevision', fromRevision);
    this.#checkOpen();
    const next = fromRevision > 0 ? fromRevision : (await this.revision()) + 1;

    const watch = await EtcdWatch.start({
      client: this.#client,
      fullPrefix,
      prefixLength: this.prefix.length,
      next,
      handlers,
      timeoutMs: this.#timeoutMs,
      readCompactRevision: () => this.#readCompactRevision(),
      onEnd: (ended) => this.#watches.delete(ended),
    });
    this.#watches.add(watch);
    return { cancel: () => watch.cancel() };
  }

  async compact(revision: number): Promise<void> {
    const request = { revision: checkRevision('revision', revision), physical: true };
    await this.#call('compact', () => this.#client.kv.compact(request));
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }

    this.#closed = true;
    await Promise.all([...this.#watches].map((watch) => watch.cancel()));
    this.#client.close();
  }

  /**
   * A transaction writing what `onSuccess` makes (after granting any lease it
   * needs, within the same timeout) when `compare` holds, else reading the key.
   */
  async #compareAnd(
    operation: string,
    fullKey: Buffer,
    compare: ICompare,
    onSuccess: () => Promise<IRequestOp>,
  ): Promise<CasResult> {
    const failure = [{ request_range: { key: fullKey } }];
    const response: ITxnResponse = await this.#call(operation, async () =>
      this.#client.kv.txn({ compare: [compare], success: [await onSuccess()], failure }),
    );

    const result: CasResult = {
      succeeded: response.succeeded,
      revision: Number(response.header.revision),
    };
    const current = response.succeeded ? undefined : response.responses[0]?.response_range.kvs[0];
    if (current !== undefined) {
      result.current = this.#toKeyValue(current);
    }
    return result;
  }

  /**
   * Reads a range page, halving the page while etcd's answer is larger than
   * one gRPC message may be: the page can come back shorter than asked for,
   * with `more` set, which every pager handles.
   */
  async #rangeFitting(request: IRangeRequest, limit: number): Promise<IRangeResponse> {
    let pageLimit = limit;
    for (;;) {
      try {
        const page = { ...request, limit: pageLimit };
        return await this.#call('range', () => this.#client.kv.range(page));
      } catch (error) {
        if (!(error instanceof ResponseTooLargeError) || pageLimit === 1) {
          throw error;
        }
      }

      const known = pageLimit > 0 ? pageLimit : await this.#count(request);
      pageLimit = Math.max(1, Math.ceil(known / 2));
    }
  }

  async #count(request: IRangeRequest): Promise<number> {
    const counting = { ...request, limit: 0, count_only: true };
    const response = await this.#call('range', () => this.#client.kv.range(counting));
    return Number(response.count);
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    this.#checkOpen();
    const message = `etcd did not answer ${operation} within ${this.#timeoutMs} ms`;

    try {
      return await withTimeout(run(), this.#timeoutMs, () => new StoreUnavailableError(message));
    } catch (error) {
      throw await mapEtcdError(error, {
        operation,
        maxValueBytes: this.#maxValueBytes,
        readCompactRevision: () => this.#readCompactRevision(),
      });
    }
  }

  /**
   * The put attached to a fresh lease of `ttl` seconds, or as it is without
   * one: etcd then detaches the key from any lease it had. A lease granted
   * for a transaction that fails holds no key and simply expires.
   */
  async #leased(put: IPutRequest, ttl: number | undefined): Promise<IPutRequest> {
    if (ttl === undefined) {
      return put;
    }

    const lease = await this.#client.leaseClient.leaseGrant({ TTL: ttl });
    return { ...put, lease: lease.ID };
  }

  #readCompactRevision(): Promise<number> {
    const read = readCompactRevision(this.#client, this.prefix, this.#timeoutMs);
    return withTimeout(
      read,
      this.#timeoutMs,
      () => new StoreUnavailableError('no compact revision'),
    );
  }

  #key(key: string): Buffer {
    return Buffer.from(this.prefix + checkKey(key));
  }

  /** Checks a value to write against `maxValueBytes`, when it is set. */
  #value(key: string, value: string): Buffer {
    checkWellFormed('value', value);
    const limit = this.#maxValueBytes;
    if (limit !== undefined && entryBytes(this.prefix + key, value) > limit) {
      throw new StoreValueTooLargeError(limit);
    }

    return Buffer.from(value);
  }

  #toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: kv.key.toString('utf8').slice(this.prefix.length),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    };
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new Error('etcd store is closed');
    }
  }
}

/**
 * One circuit breaker per member: a member that could not be reached or did
 * not answer in time is passed over for a moment, and calls go to the others.
 * When every member is passed over, as during a leader election, where each
 * one waits for the new leader, calls go through to them all again, so that
 * the cluster is used the moment it has a leader rather than when a breaker
 * next lets a call through.
 */
function memberPolicies(): () => IPolicy {
  const breakers: CircuitBreakerPolicy[] = [];
  const isOpen = (breaker: CircuitBreakerPolicy) => breaker.state === CircuitState.Open;
  return () => {
    const breaker = circuitBreaker(handleWhen(isRecoverableError), {
      // A member that keeps failing is tried less and less often, so one
      // that hangs costs a timed-out call now and then rather than every
      // couple of seconds.
      halfOpenAfter: new ExponentialBackoff({
        initialDelay: MEMBER_RETRY_AFTER_MS,
        maxDelay: MEMBER_RETRY_MAX_MS,
      }),
      breaker: new ConsecutiveBreaker(1),
    });
    breakers.push(breaker);
    return {
      onSuccess: breaker.onSuccess,
      onFailure: breaker.onFailure,
      execute: (fn, signal) =>
        breakers.every(isOpen)
          ? Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }))
          : breaker.execute(fn, signal),
    } as IPolicy;
  };
}

/**
 * The call failed because this member could not be reached, not because the
 * cluster refused or delayed it: etcd's own refusals ("etcdserver: no
 * leader", "request timed out") share the UNAVAILABLE status but name etcd.
 */
function isMemberUnreachable(error: Error): boolean {
  return error instanceof GRPCUnavailableError && !error.message.includes('etcdserver:');
}

function modEquals(key: Buffer, expectedModRevision: number): ICompare {
  const mod_revision = checkRevision('expectedModRevision', expectedModRevision);
  return { key, target: 'Mod', result: 'Equal', mod_revision };
}

/** The first key after every key that starts with `prefix`, as etcd ranges want it. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }

  // Only 0xff bytes: every key from the prefix on.
  return Buffer.from([0]);
}
