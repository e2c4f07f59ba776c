/**
 * The embedded store's data in memory: every key's versions since the last
 * compaction (MVCC, so a listing can read one revision across pages) and the
 * changes in revision order for watches. Keys here are full keys (prefix
 * included). Nothing in this module touches the disk.
 */

import { compareKeys } from './common.js';

/** One version of a key; a `null` value marks the deletion that ended it. */
export interface Version {
  readonly modRevision: number;
  readonly createRevision: number;
  readonly version: number;
  readonly value: string | null;
}

/** The write made at one revision: every write changes exactly one key. */
export interface Change {
  readonly key: string;
  readonly version: Version;
}

/** The state as stored in a snapshot file; versions are [mod, create, version, value]. */
export interface StateSnapshot {
  revision: number;
  compactRevision: number;
  keys: [string, [number, number, number, string | null][]][];
}

export interface RangeResult {
  entries: [string, Version][];
  more: boolean;
}

export class MvccState {
  /** A fresh store is at revision 1 like etcd, so the first write makes revision 2. */
  revision = 1;
  compactRevision = 0;
  #histories = new Map<string, Version[]>();
  /** Every key with a history, sorted with `compareKeys`. */
  #keys: string[] = [];
  /** Changes of the revisions from `#changes[0]` up to `revision`, without gaps. */
  #changes: Change[] = [];

  static fromSnapshot(snapshot: StateSnapshot): MvccState {
    const state = new MvccState();
    state.revision = snapshot.revision;
    state.compactRevision = snapshot.compactRevision;

    for (const [key, rows] of snapshot.keys) {
      const history = rows.map(([modRevision, createRevision, version, value]) => ({
        modRevision,
        createRevision,
        version,
        value,
      }));
      state.#histories.set(key, history);
      state.#keys.push(key);
      for (const version of history) {
        if (version.modRevision >= snapshot.compactRevision) {
          state.#changes.push({ key, version });
        }
      }
    }

    state.#keys.sort(compareKeys);
    state.#changes.sort((a, b) => a.version.modRevision - b.version.modRevision);
    state.#checkChanges();
    return state;
  }

  toSnapshot(): StateSnapshot {
    const keys: StateSnapshot['keys'] = [];
    for (const [key, history] of this.#histories) {
      keys.push([key, history.map((v) => [v.modRevision, v.createRevision, v.version, v.value])]);
    }

    return { revision: this.revision, compactRevision: this.compactRevision, keys };
  }

  /** The live version of a key at a revision (the current one by default). */
  get(key: string, revision = this.revision): Version | undefined {
    const history = this.#histories.get(key);
    const version = history === undefined ? undefined : versionAt(history, revision);
    return version?.value === null ? undefined : version;
  }

  /**
   * Live keys starting with `keyPrefix` and not below `start`, as they were at
   * `revision`; at most `limit` of them when it is above 0.
   */
  range(keyPrefix: string, start: string, revision: number, limit: number): RangeResult {
    const entries: [string, Version][] = [];

    for (let i = this.#lowerBound(start); i < this.#keys.length; i++) {
      const key = this.#keys[i] as string;
      if (!key.startsWith(keyPrefix)) {
        break;
      }

      const version = this.get(key, revision);
      if (version === undefined) {
        continue;
      }

      if (limit > 0 && entries.length === limit) {
        return { entries, more: true };
      }
      entries.push([key, version]);
    }

    return { entries, more: false };
  }

  /** The change made at `revision`, if it is still in the history. */
  changeAt(revision: number): Change | undefined {
    const first = this.#changes[0];
    return first === undefined ? undefined : this.#changes[revision - first.version.modRevision];
  }

  put(key: string, value: string): Change {
    const previous = this.get(key);
    const version: Version = {
      modRevision: this.revision + 1,
      createRevision: previous?.createRevision ?? this.revision + 1,
      version: (previous?.version ?? 0) + 1,
      value,
    };
    return this.#append(key, version);
  }

  /** Records the deletion of a live key. */
  delete(key: string): Change {
    const previous = this.get(key);
    if (previous === undefined) {
      throw new Error(`cannot delete "${key}": it does not exist`);
    }

    const tombstone = { ...previous, modRevision: this.revision + 1, value: null };
    return this.#append(key, tombstone);
  }

  /**
   * Forgets history before `revision`: reads at it and later still see the
   * same data, watches can still start at it.
   */
  compact(revision: number): void {
    // Replay with a smaller history limit may already have compacted further.
    if (revision <= this.compactRevision) {
      return;
    }

    const first = this.#changes[0];
    const dropCount = first === undefined ? 0 : Math.max(0, revision - first.version.modRevision);
    const dropped = this.#changes.splice(0, dropCount);

    for (const key of new Set(dropped.map((change) => change.key))) {
      this.#prune(key, revision);
    }

    this.compactRevision = revision;
  }

  #append(key: string, version: Version): Change {
    let history = this.#histories.get(key);
    if (history === undefined) {
      history = [];
      this.#histories.set(key, history);
      this.#keys.splice(this.#lowerBound(key), 0, key);
    }

    history.push(version);
    this.revision = version.modRevision;
    const change = { key, version };
    this.#changes.push(change);
    return change;
  }

  /** Keeps the versions from `revision` on, plus the live one in force at it. */
  #prune(key: string, revision: number): void {
    const history = this.#histories.get(key) ?? [];
    let firstKept = history.findIndex((version) => version.modRevision >= revision);
    firstKept = firstKept === -1 ? history.length : firstKept;

    const base = history[firstKept - 1];
    const kept = history.slice(firstKept);
    if (base !== undefined && base.value !== null) {
      kept.unshift(base);
    }

    if (kept.length > 0) {
      this.#histories.set(key, kept);
      return;
    }

    this.#histories.delete(key);
    this.#keys.splice(this.#lowerBound(key), 1);
  }

  #lowerBound(key: string): number {
    let low = 0;
    let high = this.#keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareKeys(this.#keys[middle] as string, key) < 0) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return low;
  }

  /** A snapshot must hold one change per revision up to its revision. */
  #checkChanges(): void {
    const first = this.#changes[0]?.version.modRevision ?? this.revision + 1;
    const gapless = this.#changes.every((change, i) => change.version.modRevision === first + i);
    const last = this.#changes.at(-1)?.version.modRevision ?? this.revision;

    if (!gapless || last !== this.revision) {
      throw new Error('snapshot is inconsistent: its changes do not cover every revision');
    }
  }
}

/** The newest version at or before `revision` (histories are sorted by revision). */
function versionAt(history: Version[], revision: number): Version | undefined {
  let low = 0;
  let high = history.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((history[middle] as Version).modRevision <= revision) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return history[low - 1];
}
