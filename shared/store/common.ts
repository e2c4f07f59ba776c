/**
 * Helpers both store backends share: option, key and value checks, the key
 * order etcd uses, and calling watch handlers.
 */

import type { WriteOptions } from './types.js';

/** Longest `ttlSeconds` a write may ask for. */
export const MAX_TTL_SECONDS = 31_536_000; // one year

/** A UTF-16 code unit of a surrogate pair that has no partner. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Checks the `prefix` option: empty, or absolute without a trailing slash. */
export function checkPrefix(prefix: string): string {
  if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) {
    throw new TypeError(`prefix must be empty or start and not end with "/", got "${prefix}"`);
  }

  return checkWellFormed('prefix', prefix);
}

/** Store keys are relative to the prefix and always start with `/`. */
export function checkKey(key: string): string {
  if (!key.startsWith('/')) {
    throw new TypeError(`store key must start with "/", got "${key}"`);
  }

  return checkWellFormed('store key', key);
}

/**
 * Refuses text with a lone surrogate. etcd stores UTF-8, where a lone
 * surrogate has no form: it would turn into U+FFFD, so two keys could become
 * one and a value could change silently. JSON.stringify never produces one.
 */
export function checkWellFormed(name: string, text: string): string {
  if (LONE_SURROGATE.test(text)) {
    throw new TypeError(`${name} must be well-formed Unicode (it has a lone surrogate)`);
  }

  return text;
}

/** The UTF-8 size of a key and its value: what a store's size limits count. */
export function entryBytes(key: string, value: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(value);
}

/** Checks a size or count option: a positive safe integer. */
export function checkPositiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a positive integer, got ${value}`);
  }

  return value;
}

/** Checks a write's options; returns its `ttlSeconds`, if any. */
export function checkWriteOptions(options: WriteOptions | undefined): number | undefined {
  const ttl = options?.ttlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS)) {
    throw new TypeError(`ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}, got ${ttl}`);
  }

  return ttl;
}

/**
 * A key prefix for range and watch. The empty prefix means every key of the
 * store; it becomes `/` so that a store never sees a sibling prefix's keys
 * (`/apisix2/...` when its own prefix is `/apisix`).
 */
export function checkKeyPrefix(keyPrefix: string): string {
  return keyPrefix === '' ? '/' : checkKey(keyPrefix);
}

/** Checks a revision argument: a safe non-negative integer. */
export function checkRevision(name: string, revision: number): number {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new TypeError(`${name} must be a non-negative integer, got ${revision}`);
  }

  return revision;
}

/**
 * Orders keys as etcd does, by their UTF-8 bytes. UTF-16 code units sort the
 * same way except where surrogate pairs meet characters from U+E000 up, so
 * only those compare by code point.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);

  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) {
      continue;
    }

    if (x < 0xd800 || y < 0xd800) {
      return x - y;
    }

    // Step back onto the high surrogate when the pair's first half matched.
    const start = i > 0 && isHighSurrogate(a.charCodeAt(i - 1)) ? i - 1 : i;
    return (a.codePointAt(start) ?? 0) - (b.codePointAt(start) ?? 0);
  }

  return a.length - b.length;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Runs a watch handler. A handler that throws must not stop delivery to the
 * others or leave the watch half-advanced, so its error is rethrown on its
 * own turn, where it surfaces as an uncaught exception like an
 * EventEmitter listener's would.
 */
export function callHandler(handler: () => void): void {
  try {
    handler();
  } catch (error) {
    setImmediate(() => {
      throw error;
    });
  }
}

/** Settles like `promise`, or rejects with `onTimeout()` after `ms` milliseconds. */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });

  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
