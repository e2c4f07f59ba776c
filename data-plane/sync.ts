/**
 * Keeps a node's ConfigState in step with the store.
 *
 * Start: read the whole prefix page by page at one revision, then watch from
 * the next revision, so a write landing between the read and the watch is
 * never missed. Events then apply one object at a time. A compacted or lost
 * watch triggers a full read into a fresh state, which replaces the old one
 * only when complete: traffic is served from the old config meanwhile. While
 * the store is unreachable the last good config keeps serving, retries back
 * off, and each change of state is logged once.
 */
import type { Logger } from '../shared/logger.js';
import type { Keyring } from '../shared/secrets.js';
import type { ConfigStore, Watch, WatchEvent } from '../shared/store/types.js';
import { ConfigState } from './state.js';

export type SyncPhase = 'starting' | 'watching' | 'disconnected' | 'resyncing' | 'stopped';

export interface SyncStatus {
  phase: SyncPhase;
  ready: boolean;
  /** The store revision the served config reflects. */
  revision: number;
  counts: ReturnType<ConfigState['counts']>;
}

const PAGE_SIZE = 1000;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

export class ConfigSync {
  readonly #store: ConfigStore;
  readonly #logger: Logger;
  #state: ConfigState;
  #phase: SyncPhase = 'starting';
  #revision = 0;
  #ready = false;
  #readyWaiters: (() => void)[] = [];
  #watch: Watch | undefined;
  #backoffMs = BACKOFF_MIN_MS;
  #failing = false;
  /** Bumped by each full sync, so handlers of an older watch fall silent. */
  #epoch = 0;

  readonly #keyring: Keyring;

  constructor(store: ConfigStore, logger: Logger, keyring: Keyring) {
    this.#store = store;
    this.#logger = logger;
    this.#keyring = keyring;
    this.#state = new ConfigState(logger, keyring);
  }

  /** The config to serve now; read it once per request. */
  get state(): ConfigState {
    return this.#state;
  }

  get ready(): boolean {
    return this.#ready;
  }

  status(): SyncStatus {
    return {
      phase: this.#phase,
      ready: this.#ready,
      revision: this.#revision,
      counts: this.#state.counts(),
    };
  }

  /** Starts syncing in the background; see whenReady(). */
  start(): void {
    void this.#fullSync();
  }

  /** Resolves after the first full sync. */
  whenReady(): Promise<void> {
    return this.#ready
      ? Promise.resolve()
      : new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.#phase = 'stopped';
    this.#epoch++;
    await this.#watch?.cancel();
    this.#watch = undefined;
  }

  async #fullSync(): Promise<void> {
    const epoch = ++this.#epoch;
    await this.#watch?.cancel().catch(() => undefined);
    this.#watch = undefined;

    while (this.#phase !== 'stopped' && epoch === this.#epoch) {
      try {
        const { state, revision } = await this.#readAll();
        if (epoch !== this.#epoch) {
          return;
        }
        this.#state = state;
        this.#revision = revision;
        this.#watch = await this.#store.watch('/', revision + 1, this.#handlers(epoch));
        this.#recovered();
        this.#setPhase('watching');
        this.#markReady();
        return;
      } catch (err) {
        this.#failed(err);
        await sleep(this.#nextBackoff());
      }
    }
  }

  async #readAll(): Promise<{ state: ConfigState; revision: number }> {
    const state = new ConfigState(this.#logger, this.#keyring);
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.#store.range('/', { limit: PAGE_SIZE, after, revision });
      revision = page.revision;
      for (const kv of page.kvs) {
        state.applyPut(kv);
      }
      after = page.kvs.at(-1)?.key;
      if (!page.more || after === undefined) {
        return { state, revision };
      }
    }
  }

  #handlers(epoch: number) {
    const live = () => epoch === this.#epoch && this.#phase !== 'stopped';
    return {
      onEvents: (events: WatchEvent[]) => {
        if (live()) {
          this.#apply(events);
        }
      },
      onCompacted: (compactRevision: number) => {
        if (!live()) {
          return;
        }
        this.#logger.warn('config watch fell behind compaction, reading everything again', {
          revision: this.#revision,
          compact_revision: compactRevision,
        });
        this.#setPhase('resyncing');
        void this.#fullSync();
      },
      onDisconnected: (error: Error) => {
        if (live() && this.#phase !== 'disconnected') {
          this.#setPhase('disconnected');
          this.#logger.error('lost the config store, serving the last config', {
            revision: this.#revision,
            error: error.message,
          });
        }
      },
      onConnected: () => {
        if (live() && this.#phase === 'disconnected') {
          this.#setPhase('watching');
          this.#logger.info('config store reachable again', { revision: this.#revision });
        }
      },
    };
  }

  #apply(events: WatchEvent[]): void {
    for (const event of events) {
      if (event.type === 'put') {
        this.#state.applyPut(event.kv);
        this.#revision = Math.max(this.#revision, event.kv.modRevision);
      } else {
        this.#state.applyDelete(event.key);
        this.#revision = Math.max(this.#revision, event.modRevision);
      }
    }
  }

  #markReady(): void {
    if (!this.#ready) {
      this.#ready = true;
      this.#logger.info('config synced', { revision: this.#revision, ...this.#state.counts() });
      for (const resolve of this.#readyWaiters.splice(0)) {
        resolve();
      }
    }
  }

  #setPhase(phase: SyncPhase): void {
    if (this.#phase !== 'stopped') {
      this.#phase = phase;
    }
  }

  /** Logs the first failure of a streak only; retries stay quiet. */
  #failed(err: unknown): void {
    if (!this.#failing) {
      this.#failing = true;
      this.#logger.error('failed to read config from the store, retrying', {
        error: (err as Error).message,
        serving_revision: this.#revision,
      });
    }
    if (this.#phase !== 'starting') {
      this.#setPhase('disconnected');
    }
  }

  #recovered(): void {
    if (this.#failing) {
      this.#failing = false;
      this.#logger.info('config store reachable again', { revision: this.#revision });
    }
    this.#backoffMs = BACKOFF_MIN_MS;
  }

  #nextBackoff(): number {
    const ms = this.#backoffMs;
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
    return ms * (0.5 + Math.random() / 2);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
