/**
 * When the embedded store's keys expire: the current expiry time of every
 * live key that has one, and a min-heap over those times to find the next.
 * A key rewritten or deleted leaves its old heap entry behind, skipped when
 * it comes up; the heap is rebuilt once such entries outnumber the live ones,
 * so a key rewritten often with a ttl does not grow it without bound.
 */

interface Entry {
  readonly expiresAt: number;
  readonly key: string;
}

/** Stale heap entries tolerated beyond the live ones before a rebuild. */
const SLACK = 64;

export class ExpiryQueue {
  /** The expiry time of each key that has one. */
  readonly #current = new Map<string, number>();
  /** Entries sorted as a binary heap by `expiresAt`; some may be stale. */
  #heap: Entry[] = [];

  /** The earliest expiry time, if any key has one. */
  get next(): number | undefined {
    this.#dropStale();
    return this.#heap[0]?.expiresAt;
  }

  /** Records a key's expiry time, or that it has none (`undefined`) or is gone. */
  set(key: string, expiresAt: number | undefined): void {
    if (expiresAt === undefined) {
      this.#current.delete(key);
      return;
    }

    this.#current.set(key, expiresAt);
    this.#push({ expiresAt, key });
    if (this.#heap.length > 2 * this.#current.size + SLACK) {
      this.#rebuild();
    }
  }

  /** Removes and returns the keys expired at `now`, the earliest first. */
  takeDue(now: number): string[] {
    const due: string[] = [];

    for (;;) {
      this.#dropStale();
      const first = this.#heap[0];
      if (first === undefined || first.expiresAt > now) {
        break;
      }

      this.#pop();
      this.#current.delete(first.key);
      due.push(first.key);
    }
    return due;
  }

  #isStale(entry: Entry): boolean {
    return this.#current.get(entry.key) !== entry.expiresAt;
  }

  #dropStale(): void {
    while (this.#heap[0] !== undefined && this.#isStale(this.#heap[0])) {
      this.#pop();
    }
  }

  #rebuild(): void {
    this.#heap = [];
    for (const [key, expiresAt] of this.#current) {
      this.#push({ expiresAt, key });
    }
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);

    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if ((heap[parent] as Entry).expiresAt <= entry.expiresAt) {
        break;
      }
      heap[i] = heap[parent] as Entry;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) {
      return;
    }

    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let child = left;
      if (
        right < heap.length &&
        (heap[right] as Entry).expiresAt < (heap[left] as Entry).expiresAt
      ) {
        child = right;
      }
      if (child >= heap.length || (heap[child] as Entry).expiresAt >= last.expiresAt) {
        break;
      }

      heap[i] = heap[child] as Entry;
      i = child;
    }
    heap[i] = last;
  }
}
