/**
 * PATCH semantics of the Admin API.
 *
 * A body merges into the stored object: objects merge key by key, `null`
 * removes a key, and anything else (arrays included) replaces the old value
 * whole. A sub path (`PATCH /routes/1/plugins/jwt-auth`) replaces the value
 * at that path with the body.
 */
import { ApiError } from '../shared/errors.js';

type Obj = Record<string, unknown>;

const UNSAFE_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

export function isPlainObject(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Returns a new object: `target` with `patch` merged in. Neither input is modified. */
export function mergePatch(target: Obj, patch: Obj): Obj {
  const out: Obj = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete out[k];
    } else if (isPlainObject(v) && isPlainObject(out[k])) {
      out[k] = mergePatch(out[k], v);
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Splits and checks a sub path such as `plugins/jwt-auth`. */
export function parseSubPath(subPath: string): string[] {
  const segments = subPath.split('/').filter((s) => s !== '');
  if (segments.length === 0) {
    throw new ApiError('ID_INVALID', 'empty sub path');
  }
  for (const s of segments) {
    if (UNSAFE_SEGMENTS.has(s)) {
      throw new ApiError('ID_INVALID', `invalid sub path segment "${s}"`);
    }
  }
  return segments;
}

/**
 * Returns a copy of `target` with the value at `segments` replaced by `value`
 * (removed when `value` is null). Missing intermediate objects are created.
 */
export function setAtPath(target: Obj, segments: string[], value: unknown): Obj {
  const [head, ...rest] = segments;
  if (head === undefined) {
    throw new ApiError('ID_INVALID', 'empty sub path');
  }
  const out: Obj = { ...target };
  if (rest.length === 0) {
    if (value === null) {
      delete out[head];
    } else {
      out[head] = value;
    }
    return out;
  }
  const child = out[head] ?? {};
  if (!isPlainObject(child)) {
    throw new ApiError('SCHEMA_INVALID', `sub path "${segments.join('/')}" crosses a non-object`);
  }
  out[head] = setAtPath(child, rest, value);
  return out;
}
