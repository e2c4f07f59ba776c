/**
 * A watch on the embedded store: a cursor over the store's changes that
 * catches up on its own turn of the event loop, never inside a writer's call.
 */

import { callHandler } from './common.js';
import type { Change, MvccState } from './embedded-state.js';
import type { WatchEvent, WatchHandlers } from './types.js';

/** Revisions delivered per turn, so that a long catch-up does not starve the event loop. */
const BATCH = 1_000;

export interface EmbeddedWatchOptions {
  state: MvccState;
  /** Length of the store prefix, cut from full keys. */
  prefixLength: number;
  /** Full key prefix of the watched keys. */
  fullPrefix: string;
  /** The first revision to deliver. */
  next: number;
  handlers: WatchHandlers;
  /** Called once when the watch ends, by cancellation or compaction. */
  onEnd(watch: EmbeddedWatch): void;
}

export class EmbeddedWatch {
  readonly #options: EmbeddedWatchOptions;
  #next: number;
  #scheduled = false;
  #ended = false;

  constructor(options: EmbeddedWatchOptions) {
    this.#options = options;
    this.#next = options.next;
  }

  /** Arranges delivery of whatever the watch has not seen yet. */
  schedule(): void {
    if (this.#scheduled || this.#ended) {
      return;
    }

    this.#scheduled = true;
    setImmediate(() => this.#deliver());
  }

  cancel(): void {
    this.#end();
  }

  #deliver(): void {
    this.#scheduled = false;
    const { state, handlers } = this.#options;
    if (this.#ended) {
      return;
    }

    // The changes this watch still needed were compacted away.
    if (this.#next < state.compactRevision) {
      this.#end();
      const compactRevision = state.compactRevision;
      callHandler(() => handlers.onCompacted(compactRevision));
      return;
    }

    const last = Math.min(state.revision, this.#next + BATCH - 1);
    while (this.#next <= last && !this.#ended) {
      const change = state.changeAt(this.#next);
      this.#next += 1;

      if (change !== undefined && change.key.startsWith(this.#options.fullPrefix)) {
        const event = this.#toEvent(change);
        callHandler(() => handlers.onEvents([event]));
      }
    }

    if (this.#next <= state.revision) {
      this.schedule();
    }
  }

  #toEvent({ key, version }: Change): WatchEvent {
    const relativeKey = key.slice(this.#options.prefixLength);
    if (version.value === null) {
      return { type: 'delete', key: relativeKey, modRevision: version.modRevision };
    }

    const kv = {
      key: relativeKey,
      value: version.value,
      createRevision: version.createRevision,
      modRevision: version.modRevision,
      version: version.version,
    };
    return { type: 'put', kv };
  }

  #end(): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#options.onEnd(this);
    }
  }
}
