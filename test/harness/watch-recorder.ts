/** Helpers for tests of store watches: a handler set that records, and polling. */

import { setTimeout as sleep } from 'node:timers/promises';

import type { WatchEvent, WatchHandlers } from '../../shared/store/types.js';

/** Records every handler call of a watch. */
export class WatchRecorder implements WatchHandlers {
  readonly batches: WatchEvent[][] = [];
  readonly compactions: number[] = [];
  disconnects = 0;
  connects = 0;

  onEvents(events: WatchEvent[]): void {
    this.batches.push(events);
  }

  onCompacted(compactRevision: number): void {
    this.compactions.push(compactRevision);
  }

  onDisconnected(): void {
    this.disconnects += 1;
  }

  onConnected(): void {
    this.connects += 1;
  }

  get events(): WatchEvent[] {
    return this.batches.flat();
  }

  /** `key@revision` for puts and `-key@revision` for deletes, in delivery order. */
  get summary(): string[] {
    return this.events.map((event) =>
      event.type === 'put'
        ? `${event.kv.key}@${event.kv.modRevision}`
        : `-${event.key}@${event.modRevision}`,
    );
  }
}

/** Polls `check` until it holds, failing with `description` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean,
  description: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${description}`);
    }
    await sleep(10);
  }
}
