/**
 * Counters shared by every node, which lock a key once it is hit too often:
 * password-login counts failures per account and per client address under
 * `/_tollgate/login_failures/`, consumer-signup counts sign-ups per client
 * address under `/_tollgate/signup_counts/`. Each key holds
 * `{count, first, locked_until?}`:
 *
 * - a hit adds one with compare-and-set, the key living until the end of
 *   the window that `first` opened (`ttlSeconds`), so etcd forgets it then;
 * - the hit that reaches `limit` sets `locked_until` and makes the key live
 *   `lockSeconds` instead;
 * - every node reads the counters from its watched state, so a lock set
 *   through one node is enforced by all of them.
 */
import type { WindowCounter } from '../account-index.js';
import { parseCounter } from '../account-index.js';
import type { ConfigState } from '../state.js';
import type { ConfigStore, KeyValue } from '../../shared/store/types.js';

export interface CounterLimits {
  /** Hits within one window that lock the key. */
  limit: number;
  windowSeconds: number;
  lockSeconds: number;
}

/** Compare-and-set rounds before a hit is left uncounted (others were counted meanwhile). */
const MAX_ATTEMPTS = 8;

/** Seconds until none of `keys` is locked any more; undefined when none is locked now. */
export function lockedFor(
  state: ConfigState,
  keys: readonly string[],
  conf: CounterLimits,
  now: number,
): number | undefined {
  let wait: number | undefined;
  for (const key of keys) {
    const counter = state.accounts.counters.get(key);
    const until = counter === undefined ? undefined : activeLock(counter, conf, now);
    if (until !== undefined) {
      wait = Math.max(wait ?? 0, until - now);
    }
  }
  return wait;
}

function activeLock(counter: WindowCounter, conf: CounterLimits, now: number): number | undefined {
  const until = counter.locked_until;
  return counter.count >= conf.limit && until !== undefined && until > now ? until : undefined;
}

/**
 * Counts one hit on `key`, reading the store rather than this node's view of
 * it. Answers the seconds the key stays locked when it was locked already,
 * so that a caller can refuse a burst that outran the watch, or 1 when so
 * many others were counted at once that this hit could not be; undefined
 * when it was counted.
 */
export async function recordHit(
  store: ConfigStore,
  key: string,
  conf: CounterLimits,
  now: number,
): Promise<number | undefined> {
  let current: KeyValue | undefined = await store.get(key);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const counter = current && parseCounter(current.value);
    const next = withHit(counter, conf, now);
    if (next === undefined) {
      return Math.max(1, (counter?.locked_until ?? now) - now);
    }
    const ttlSeconds =
      next.locked_until === undefined
        ? Math.max(1, next.first + conf.windowSeconds - now)
        : conf.lockSeconds;
    const text = JSON.stringify(next);
    const result = current
      ? await store.compareAndSet(key, text, current.modRevision, { ttlSeconds })
      : await store.create(key, text, { ttlSeconds });
    if (result.succeeded) {
      return undefined;
    }
    current = result.current;
  }
  return 1;
}

/** The counter after one more hit; undefined when it is locked already. */
function withHit(
  counter: WindowCounter | undefined,
  conf: CounterLimits,
  now: number,
): WindowCounter | undefined {
  if (counter !== undefined && activeLock(counter, conf, now) !== undefined) {
    return undefined;
  }
  const expired =
    counter === undefined ||
    counter.count >= conf.limit ||
    counter.first + conf.windowSeconds <= now;
  const next = expired
    ? { count: 1, first: now }
    : { count: counter.count + 1, first: counter.first };
  return next.count >= conf.limit ? { ...next, locked_until: now + conf.lockSeconds } : next;
}
