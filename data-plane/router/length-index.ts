/**
 * A map from strings to values that also knows which key lengths it holds,
 * longest first. Looking up "every key that is a prefix (or suffix) of this
 * text" then costs one lookup per distinct length, however many keys there
 * are: used for `/foo*` prefixes and `*.example.com` host suffixes.
 */
export class LengthIndex<V> {
  readonly #values = new Map<string, V>();
  readonly #keysPerLength = new Map<number, number>();
  #lengths: number[] = [];

  /** Distinct key lengths, longest first. Do not modify. */
  get lengths(): readonly number[] {
    return this.#lengths;
  }

  get size(): number {
    return this.#values.size;
  }

  get(key: string): V | undefined {
    return this.#values.get(key);
  }

  set(key: string, value: V): void {
    if (!this.#values.has(key)) {
      this.#count(key.length, 1);
    }
    this.#values.set(key, value);
  }

  delete(key: string): void {
    if (this.#values.delete(key)) {
      this.#count(key.length, -1);
    }
  }

  #count(length: number, delta: number): void {
    const count = (this.#keysPerLength.get(length) ?? 0) + delta;
    if (count > 0) {
      this.#keysPerLength.set(length, count);
    } else {
      this.#keysPerLength.delete(length);
    }

    // The list only changes when a length appears or disappears; it holds at
    // most one entry per distinct length, so rebuilding it is cheap.
    if (count === 0 || (count === 1 && delta > 0)) {
      this.#lengths = [...this.#keysPerLength.keys()].sort((a, b) => b - a);
    }
  }
}
