/**
 * A fixed-window counter per key (a client address), in this process's
 * memory: at most `limit` hits per window, then refusals until the window
 * ends. Entries are dropped once their window is over.
 */
// Limitation: per process, so a node with N workers (or N nodes) lets a
// client through up to N times the limit; the counts reset on restart.

/** Keys kept at most; beyond it the oldest window is dropped first. */
const MAX_KEYS = 100_000;

interface Window {
  count: number;
  /** Epoch milliseconds when the window ends. */
  endsAt: number;
}

export class WindowCounter {
  readonly #windows = new Map<string, Window>();
  readonly #limit: number;
  readonly #windowMs: number;

  constructor(limit: number, windowSeconds: number) {
    this.#limit = limit;
    this.#windowMs = windowSeconds * 1000;
  }

  /** Seconds until `key` may try again, or undefined when it is under the limit. */
  retryAfter(key: string, nowMs = Date.now()): number | undefined {
    const window = this.#current(key, nowMs);
    if (!window || window.count < this.#limit) {
      return undefined;
    }
    return Math.max(1, Math.ceil((window.endsAt - nowMs) / 1000));
  }

  hit(key: string, nowMs = Date.now()): void {
    const window = this.#current(key, nowMs);
    if (window) {
      window.count++;
      return;
    }
    if (this.#windows.size >= MAX_KEYS) {
      this.#sweep(nowMs);
    }
    this.#windows.set(key, { count: 1, endsAt: nowMs + this.#windowMs });
  }

  #current(key: string, nowMs: number): Window | undefined {
    const window = this.#windows.get(key);
    if (window && window.endsAt <= nowMs) {
      this.#windows.delete(key);
      return undefined;
    }
    return window;
  }

  /**
   * Drops ended windows, then the oldest ones (Map keeps insertion order)
   * down to 90%, so a flood of addresses costs one pass per many inserts.
   */
  #sweep(nowMs: number): void {
    for (const [key, window] of this.#windows) {
      if (window.endsAt <= nowMs) {
        this.#windows.delete(key);
      }
    }
    for (const key of this.#windows.keys()) {
      if (this.#windows.size < MAX_KEYS * 0.9) {
        break;
      }
      this.#windows.delete(key);
    }
  }
}
