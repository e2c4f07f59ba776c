/**
 * Failed-login counters shared by every node, for password-login's
 * lock-out. One key per account and one per client address under
 * `/_tollgate/login_failures/`, each `{count, first, locked_until?}`:
 *
 * - a failure adds one with compare-and-set, the key living until the end of
 *   the window that `first` opened (`ttlSeconds`), so etcd forgets it then;
 * - the failure that reaches `max_failures` sets `locked_until` and makes
 *   the key live `lock_seconds` instead;
 * - every node reads the counters from its watched state, so a lock set
 *   through one node is enforced by all of them.
 */
import type { FailureCounter } from '../account-index.js';
import { parseCounter } from '../account-index.js';
import type { ConfigState } from '../state.js';
import type { ConfigStore, KeyValue } from '../../shared/store/types.js';

export interface LockConf {
  max_failures: number;
  window_seconds: number;
  lock_seconds: number;
}

/** Compare-and-set rounds before a failure is left uncounted (others were counted meanwhile). */
const MAX_ATTEMPTS = 8;

/** Seconds until none of `keys` is locked any more; undefined when none is locked now. */
export function lockedFor(
  state: ConfigState,
  keys: readonly string[],
  conf: LockConf,
  now: number,
): number | undefined {
  let wait: number | undefined;
  for (const key of keys) {
    const counter = state.accounts.failures.get(key);
    const until = counter === undefined ? undefined : activeLock(counter, conf, now);
    if (until !== undefined) {
      wait = Math.max(wait ?? 0, until - now);
    }
  }
  return wait;
}

function activeLock(counter: FailureCounter, conf: LockConf, now: number): number | undefined {
  const until = counter.locked_until;
  return counter.count >= conf.max_failures && until !== undefined && until > now
    ? until
    : undefined;
}

/** Counts one failure on `key`. */
export async function recordFailure(
  store: ConfigStore,
  key: string,
  conf: LockConf,
  now: number,
): Promise<void> {
  let current: KeyValue | undefined = await store.get(key);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const next = withFailure(current && parseCounter(current.value), conf, now);
    if (next === undefined) {
      return;
    }
    const ttlSeconds =
      next.locked_until === undefined
        ? Math.max(1, next.first + conf.window_seconds - now)
        : conf.lock_seconds;
    const text = JSON.stringify(next);
    const result = current
      ? await store.compareAndSet(key, text, current.modRevision, { ttlSeconds })
      : await store.create(key, text, { ttlSeconds });
    if (result.succeeded) {
      return;
    }
    current = result.current;
  }
}

/** The counter after one more failure; undefined when it is locked already. */
function withFailure(
  counter: FailureCounter | undefined,
  conf: LockConf,
  now: number,
): FailureCounter | undefined {
  if (counter !== undefined && activeLock(counter, conf, now) !== undefined) {
    return undefined;
  }
  const expired =
    counter === undefined ||
    counter.count >= conf.max_failures ||
    counter.first + conf.window_seconds <= now;
  const next = expired
    ? { count: 1, first: now }
    : { count: counter.count + 1, first: counter.first };
  return next.count >= conf.max_failures
    ? { ...next, locked_until: now + conf.lock_seconds }
    : next;
}

/** A success forgets the account's failures (the address keeps its own). */
export async function clearFailures(
  store: ConfigStore,
  state: ConfigState,
  key: string,
): Promise<void> {
  if (state.accounts.failures.has(key)) {
    await store.delete(key);
  }
}
