/**
 * The embedded store's data in memory: every key's versions since the last
 * compaction (MVCC, so a listing can read one revision across pages) and the
 * changes in revision order for watches. Keys here are full keys (prefix
 * included). It also counts the bytes of current values and of old versions,
 * so the store can bound both. Nothing in this module touches the disk or
 * reads the clock: a version's expiry is data like its value, and only the
 * store decides when a key has expired.
 */

import { compareKeys } from './common.js';

/** Memory a version takes beyond its key and value, counted in the byte budgets. */
const VERSION_OVERHEAD = 128; // bytes

/** One version of a key; a `null` value marks the deletion that ended it. */
export interface Version {
  readonly modRevision: number;
  readonly createRevision: number;
  readonly version: number;
  readonly value: string | null;
  /** When a key written with a ttl expires, in milliseconds since the epoch. */
  readonly expiresAt?: number;
}

/** The write made at one revision: every write changes exactly one key. */
export interface Change {
  readonly key: string;
  readonly version: Version;
}

/**
 * A version in a snapshot file: [mod, create, version, value], then the
 * expiry time when the key has one (older snapshots never have it).
 */
export type VersionRow = [number, number, number, string | null, number?];

/** The state as stored in a snapshot file. */
export interface StateSnapshot {
  revision: number;
  compactRevision: number;
  keys: [string, VersionRow[]][];
}

export interface RangeResult {
  entries: [string, Version][];
  more: boolean;
}

/**
 * A version that is no longer current (or a tombstone), its size, and the
 * lowest compaction revision that drops it. Versions become old in revision
 * order, so a list of these stays sorted by `dropAt`.
 */
interface OldVersion {
  readonly dropAt: number;
  readonly bytes: number;
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
  /** The old versions still kept, sorted by `dropAt`. */
  #old: OldVersion[] = [];
  #oldBytes = 0;
  #liveBytes = 0;

  static fromSnapshot(snapshot: StateSnapshot): MvccState {
    const state = new MvccState();
    state.revision = snapshot.revision;
    state.compactRevision = snapshot.compactRevision;

    for (const [key, rows] of snapshot.keys) {
      const rowVersions = rows.map(fromRow);
      // Snapshots of older releases may hold a version compaction no longer keeps.
      const history = keptFrom(rowVersions, snapshot.compactRevision);
      if (history.length === 0) {
        continue;
      }

      state.#histories.set(key, history);
      state.#keys.push(key);
      state.#count(key, history);
      for (const version of history) {
        if (version.modRevision >= snapshot.compactRevision) {
          state.#changes.push({ key, version });
        }
      }
    }

    state.#keys.sort(compareKeys);
    state.#changes.sort((a, b) => a.version.modRevision - b.version.modRevision);
    state.#old.sort((a, b) => a.dropAt - b.dropAt);
    state.#checkChanges();
    return state;
  }

  /** Bytes of the current keys and values (see `versionBytes`). */
  get liveBytes(): number {
    return this.#liveBytes;
  }

  /** Bytes of the old versions kept (see `versionBytes`). */
  get oldBytes(): number {
    return this.#oldBytes;
  }

  /**
   * The lowest compaction revision after which at most `budget` bytes of old
   * versions remain. It never passes the current revision, so the tombstone
   * of a delete just made may stay over the budget until the next write.
   */
  compactionFor(budget: number): number {
    let excess = this.#oldBytes - budget;
    let revision = this.compactRevision;

    for (const old of this.#old) {
      if (excess <= 0) {
        break;
      }
      excess -= old.bytes;
      revision = Math.max(revision, old.dropAt);
    }

    return Math.min(revision, this.revision);
  }

  toSnapshot(): StateSnapshot {
    const keys: StateSnapshot['keys'] = [];
    for (const [key, history] of this.#histories) {
      keys.push([key, history.map(toRow)]);
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
   * `revision`, leaving out those expired at `now`; at most `limit` of them
   * when it is above 0.
   */
  range(
    keyPrefix: string,
    start: string,
    revision: number,
    limit: number,
    now: number,
  ): RangeResult {
    const entries: [string, Version][] = [];

    for (let i = this.#lowerBound(start); i < this.#keys.length; i++) {
      const key = this.#keys[i] as string;
      if (!key.startsWith(keyPrefix)) {
        break;
      }

      const version = this.get(key, revision);
      if (version === undefined || isExpired(version, now)) {
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

  /** Writes a key; one without `expiresAt` is permanent, whatever it was before. */
  put(key: string, value: string, expiresAt?: number): Change {
    const previous = this.get(key);
    const revision = this.revision + 1;
    const version: Version = {
      modRevision: revision,
      createRevision: previous?.createRevision ?? revision,
      version: (previous?.version ?? 0) + 1,
      value,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };

    if (previous !== undefined) {
      this.#retire(key, previous, revision);
    }
    this.#liveBytes += versionBytes(key, version.value);
    return this.#append(key, version);
  }

  /** Records the deletion of a live key. */
  delete(key: string): Change {
    const previous = this.get(key);
    if (previous === undefined) {
      throw new Error(`cannot delete "${key}": it does not exist`);
    }

    const revision = this.revision + 1;
    const { createRevision, version } = previous;
    const tombstone = { modRevision: revision, createRevision, version, value: null };
    this.#retire(key, previous, revision);
    this.#addOld(revision + 1, versionBytes(key, tombstone.value));
    return this.#append(key, tombstone);
  }

  /** The live keys that expire, with the time each does. */
  *expiring(): Generator<[string, number]> {
    for (const [key, history] of this.#histories) {
      const expiresAt = history.at(-1)?.expiresAt;
      if (expiresAt !== undefined) {
        yield [key, expiresAt];
      }
    }
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

    // The key written at `revision` itself may hold a version no read needs now.
    const keys = new Set(dropped.map((change) => change.key));
    const kept = this.changeAt(revision);
    if (kept !== undefined) {
      keys.add(kept.key);
    }
    for (const key of keys) {
      this.#prune(key, revision);
    }

    this.compactRevision = revision;
    let count = 0;
    for (const old of this.#old) {
      if (old.dropAt > revision) {
        break;
      }
      this.#oldBytes -= old.bytes;
      count += 1;
    }
    this.#old.splice(0, count);
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

  /** A version stopped being current at `revision`. */
  #retire(key: string, version: Version, revision: number): void {
    const bytes = versionBytes(key, version.value);
    this.#liveBytes -= bytes;
    this.#addOld(revision, bytes);
  }

  #addOld(dropAt: number, bytes: number): void {
    this.#old.push({ dropAt, bytes });
    this.#oldBytes += bytes;
  }

  /** Counts the bytes of a history loaded from a snapshot (see `#retire`). */
  #count(key: string, history: Version[]): void {
    history.forEach((version, i) => {
      const next = history[i + 1];
      if (version.value === null) {
        this.#addOld(version.modRevision + 1, versionBytes(key, version.value));
      } else if (next !== undefined) {
        this.#addOld(next.modRevision, versionBytes(key, version.value));
      } else {
        this.#liveBytes += versionBytes(key, version.value);
      }
    });
  }

  #prune(key: string, revision: number): void {
    const kept = keptFrom(this.#histories.get(key) ?? [], revision);
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

/** Whether a version has expired at `now` (milliseconds since the epoch). */
export function isExpired(version: Version, now: number): boolean {
  return version.expiresAt !== undefined && version.expiresAt <= now;
}

function fromRow([modRevision, createRevision, version, value, expiresAt]: VersionRow): Version {
  const row = { modRevision, createRevision, version, value };
  return expiresAt === undefined ? row : { ...row, expiresAt };
}

function toRow(version: Version): VersionRow {
  const { modRevision, createRevision, version: count, value, expiresAt } = version;
  return expiresAt === undefined
    ? [modRevision, createRevision, count, value]
    : [modRevision, createRevision, count, value, expiresAt];
}

/**
 * What compaction at `revision` keeps of a history: the versions from
 * `revision` on, plus the live one in force at it when none starts there.
 * A version is dropped exactly when its `OldVersion.dropAt` is reached.
 */
function keptFrom(history: Version[], revision: number): Version[] {
  let firstKept = history.findIndex((version) => version.modRevision >= revision);
  firstKept = firstKept === -1 ? history.length : firstKept;

  const kept = history.slice(firstKept);
  const base = history[firstKept - 1];
  const needed = (kept[0]?.modRevision ?? Infinity) > revision;
  if (base !== undefined && base.value !== null && needed) {
    kept.unshift(base);
  }
  return kept;
}

/**
 * What a version of `key` counts against the byte budgets: its key and value
 * in UTF-8 plus an overhead, so that many tiny keys are bounded too.
 */
export function versionBytes(key: string, value: string | null): number {
  const valueBytes = value === null ? 0 : Buffer.byteLength(value);
  return Buffer.byteLength(key) + valueBytes + VERSION_OVERHEAD;
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
