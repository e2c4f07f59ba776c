/**
 * A watch on etcd through the etcd3 client's watcher, which reconnects by
 * itself. etcd3 resumes from the revision in the last response header, which
 * can skip events still in flight; this watch rewrites the resume revision
 * to the one after the last event it delivered, so a reconnect neither loses
 * nor repeats events.
 *
 * The watch asks etcd to fragment large responses: catching up on history
 * of large values would otherwise make one response larger than a gRPC
 * message may be, fail the shared watch stream and retry it forever.
 * Limitation: etcd 3.4 sends history it read before it announced the watch
 * unfragmented, so such a catch-up past `maxResponseBytes` still fails.
 */

import type { Etcd3, IEvent, IWatchCreateRequest, IWatchResponse, Watcher } from 'etcd3';

import { callHandler, withTimeout } from './common.js';
import type { WatchEvent, WatchHandlers } from './types.js';
import { StoreUnavailableError } from './types.js';

export interface EtcdWatchOptions {
  client: Etcd3;
  /** Full key prefix of the watched keys. */
  fullPrefix: string;
  /** Length of the store prefix, cut from full keys. */
  prefixLength: number;
  /** The first revision to deliver. */
  next: number;
  handlers: WatchHandlers;
  timeoutMs: number;
  /** Reads etcd's compaction revision, to report it when etcd cancels the watch. */
  readCompactRevision(): Promise<number>;
  /** Called once when the watch ends. */
  onEnd(watch: EtcdWatch): void;
}

type State = 'starting' | 'live' | 'disconnected' | 'ended';

export class EtcdWatch {
  readonly #options: EtcdWatchOptions;
  readonly #watcher: Watcher;
  readonly #registered: Promise<void>;
  #resolveRegistered: () => void = () => undefined;
  #next: number;
  #state: State = 'starting';
  /** Set by `cancel()`: from then on no handler may run. */
  #cancelled = false;
  /** etcd ended the watch itself, so there is nothing to detach. */
  #canceledByServer = false;
  #detached: Promise<void> | undefined;
  /** The events of a revision that a fragmented response has not finished yet. */
  #partial: WatchEvent[] = [];
  #partialRevision = 0;

  private constructor(options: EtcdWatchOptions) {
    this.#options = options;
    this.#next = options.next;
    this.#registered = new Promise((resolve) => {
      this.#resolveRegistered = resolve;
    });

    const builder = options.client.watch().prefix(options.fullPrefix);
    // etcd3 has no builder call for this field and may send the request
    // before the watcher is returned, so it goes on the builder's request.
    (builder as unknown as { request: IWatchCreateRequest }).request.fragment = true;
    this.#watcher = builder.startRevision(String(options.next)).watcher();
    this.#watcher
      .on('connecting', () => {
        // etcd3 sends this very request object to etcd right after this event.
        this.#watcher.request.start_revision = String(this.#next);
        this.#watcher.request.fragment = true;
        // etcd sends an unfinished revision again in full from #next.
        this.#partial = [];
      })
      .on('connected', () => this.#onConnected())
      .on('data', (response) => this.#onData(response))
      .on('disconnected', (error) => this.#onDisconnected(error))
      .on('error', () => void this.#onCanceled());
  }

  /** Starts a watch; resolves once etcd has registered it. */
  static async start(options: EtcdWatchOptions): Promise<EtcdWatch> {
    const watch = new EtcdWatch(options);
    const message = `etcd did not register the watch within ${options.timeoutMs} ms`;

    try {
      await withTimeout(watch.#registered, options.timeoutMs, () => {
        return new StoreUnavailableError(message);
      });
      return watch;
    } catch (error) {
      // Not awaited: detaching may itself wait for etcd, and no handler runs after this.
      void watch.cancel();
      throw error;
    }
  }

  cancel(): Promise<void> {
    this.#cancelled = true;
    this.#end();
    this.#detached ??= this.#detach();
    return this.#detached;
  }

  async #detach(): Promise<void> {
    if (this.#canceledByServer) {
      return;
    }

    // While etcd is away the detach may wait for a reconnect; handlers are
    // already silenced, so give up on it after the timeout.
    const detached = this.#watcher.cancel();
    const timedOut = () => new Error('detaching the watch timed out');
    await withTimeout(detached, this.#options.timeoutMs, timedOut).catch(() => undefined);
  }

  #onConnected(): void {
    if (this.#state === 'starting') {
      this.#state = 'live';
      this.#resolveRegistered();
      return;
    }

    if (this.#state === 'disconnected') {
      this.#state = 'live';
      this.#call(() => this.#options.handlers.onConnected?.());
    }
  }

  #onDisconnected(cause: Error): void {
    // etcd3 reports every failed reconnect attempt; the handler hears of the outage once.
    if (this.#state !== 'live') {
      return;
    }

    this.#state = 'disconnected';
    const error = new StoreUnavailableError('lost the etcd watch connection', { cause });
    this.#call(() => this.#options.handlers.onDisconnected?.(error));
  }

  /**
   * Delivers a response's events grouped by revision. Responses without
   * events are progress notifications; their revision is not used to resume,
   * since etcd before 3.4.25/3.5.8 could send one ahead of undelivered events.
   * A fragment can end inside a revision, so its last revision waits for the
   * next response.
   */
  #onData(response: IWatchResponse): void {
    let batch = this.#partial;
    let batchRevision = this.#partialRevision;
    this.#partial = [];

    for (const event of response.events) {
      const revision = Number(event.kv.mod_revision);
      if (revision < this.#next) {
        continue;
      }

      if (batch.length > 0 && revision !== batchRevision) {
        this.#deliver(batch, batchRevision);
        batch = [];
      }
      batchRevision = revision;
      batch.push(this.#toEvent(event));
    }

    if (response.fragment) {
      this.#partial = batch;
      this.#partialRevision = batchRevision;
    } else if (batch.length > 0) {
      this.#deliver(batch, batchRevision);
    }
  }

  /**
   * etcd cancelled the watch. Compaction of the start revision is the reason
   * in practice (etcd 3.4 sends no reason text for it); any other reason also
   * calls for the same recovery, reading everything again.
   */
  async #onCanceled(): Promise<void> {
    if (this.#state === 'ended') {
      return;
    }

    this.#canceledByServer = true;
    this.#end();
    this.#resolveRegistered();

    const compactRevision = await this.#options.readCompactRevision().catch(() => this.#next);
    this.#call(() => this.#options.handlers.onCompacted(compactRevision));
  }

  #deliver(events: WatchEvent[], revision: number): void {
    if (this.#state === 'ended') {
      return;
    }

    this.#next = revision + 1;
    this.#call(() => this.#options.handlers.onEvents(events));
  }

  #toEvent(event: IEvent): WatchEvent {
    const { kv } = event;
    const key = kv.key.toString('utf8').slice(this.#options.prefixLength);
    const modRevision = Number(kv.mod_revision);

    if (event.type === 'Delete') {
      return { type: 'delete', key, modRevision };
    }

    const value = kv.value.toString('utf8');
    const createRevision = Number(kv.create_revision);
    const version = Number(kv.version);
    return { type: 'put', kv: { key, value, createRevision, modRevision, version } };
  }

  #call(handler: () => void): void {
    if (!this.#cancelled) {
      callHandler(handler);
    }
  }

  #end(): void {
    if (this.#state !== 'ended') {
      this.#state = 'ended';
      this.#options.onEnd(this);
    }
  }
}

/**
 * Reads the revision etcd compacted up to. No RPC reports it, but a watch
 * from revision 1 is cancelled with it when history was compacted. The probe
 * key is outside every store key (those continue the prefix with `/`).
 */
export async function readCompactRevision(
  client: Etcd3,
  prefix: string,
  timeoutMs: number,
): Promise<number> {
  const stream = await client.watchClient.watch({ deadline: Date.now() + timeoutMs });

  return new Promise<number>((resolve, reject) => {
    stream.on('data', (response: IWatchResponse) => {
      if (response.canceled || response.compact_revision !== '0') {
        resolve(Number(response.compact_revision));
        // Half-close first: etcd3 would otherwise take the cancel as a failed host.
        stream.end();
        stream.cancel();
      }
    });
    stream.on('error', reject);
    stream.write({ create_request: { key: Buffer.from(`${prefix}\0`), start_revision: 1 } });
  });
}
