/**
 * What a node knows of the account bookkeeping under `/_tollgate/`, kept in
 * step by the same watch as the config: email reservations, failed-login
 * and sign-up counters, and revoked tokens. Plugins read it here and write through the
 * store; etcd deletes the expiring keys, and the delete events remove them
 * here.
 */
import {
  EMAIL_DIR,
  FAILURE_DIR,
  REVOKED_BEFORE_DIR,
  REVOKED_DIR,
  SIGNUP_DIR,
} from '../shared/keys.js';

/** A count of hits (failed logins, sign-ups) in a window, as shared-counters.ts writes it. */
export interface WindowCounter {
  count: number;
  /** Epoch seconds of the first hit of the window. */
  first: number;
  /** Epoch seconds until which the key is locked, once `count` reached the limit. */
  locked_until?: number;
}

export class AccountIndex {
  /** Usernames by email reservation key (the full store key). */
  readonly emails = new Map<string, string>();
  /** Failed-login and sign-up counters by store key. */
  readonly counters = new Map<string, WindowCounter>();
  /** Revoked tokens as `<username>/<jti or the token's sha256>`. */
  readonly revoked = new Set<string>();
  /** Per username: tokens issued at or before these epoch seconds are refused. */
  readonly revokedBefore = new Map<string, number>();

  /** Applies a put; false when the key is not account bookkeeping. */
  applyPut(key: string, value: string): boolean {
    if (key.startsWith(EMAIL_DIR)) {
      this.emails.set(key, value);
    } else if (key.startsWith(FAILURE_DIR) || key.startsWith(SIGNUP_DIR)) {
      const counter = parseCounter(value);
      if (counter) {
        this.counters.set(key, counter);
      } else {
        this.counters.delete(key);
      }
    } else if (key.startsWith(REVOKED_DIR)) {
      this.revoked.add(key.slice(REVOKED_DIR.length));
    } else if (key.startsWith(REVOKED_BEFORE_DIR)) {
      const seconds = Number(value);
      if (Number.isFinite(seconds)) {
        this.revokedBefore.set(key.slice(REVOKED_BEFORE_DIR.length), seconds);
      }
    } else {
      return false;
    }
    return true;
  }

  applyDelete(key: string): boolean {
    if (key.startsWith(EMAIL_DIR)) {
      this.emails.delete(key);
    } else if (key.startsWith(FAILURE_DIR) || key.startsWith(SIGNUP_DIR)) {
      this.counters.delete(key);
    } else if (key.startsWith(REVOKED_DIR)) {
      this.revoked.delete(key.slice(REVOKED_DIR.length));
    } else if (key.startsWith(REVOKED_BEFORE_DIR)) {
      this.revokedBefore.delete(key.slice(REVOKED_BEFORE_DIR.length));
    } else {
      return false;
    }
    return true;
  }
}

/** A counter as stored; undefined (ignored) when another writer left something else there. */
export function parseCounter(text: string): WindowCounter | undefined {
  try {
    const value = JSON.parse(text) as Partial<WindowCounter> | null;
    if (typeof value?.count !== 'number' || typeof value.first !== 'number') {
      return undefined;
    }
    const lockedUntil = typeof value.locked_until === 'number' ? value.locked_until : undefined;
    return { count: value.count, first: value.first, locked_until: lockedUntil };
  } catch {
    return undefined;
  }
}
