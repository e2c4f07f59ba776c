/**
 * JSON from the network, parsed without silently changing numbers.
 *
 * `JSON.parse` rounds integers beyond 2^53, so an 18-digit id sent as a JSON
 * number would quietly become another id. Here such a number is kept as its
 * exact digits: fields that hold ids take them as a string, and anywhere else
 * the value is refused with a message naming the field.
 */
import { isSafeNumber, LosslessNumber, parse } from 'lossless-json';

const MAX_DEPTH = 64;

export class JsonInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonInputError';
  }
}

/** Top-level fields whose value is an object id; a number there becomes its decimal string. */
const ID_FIELDS = new Set([
  'id',
  'upstream_id',
  'service_id',
  'plugin_config_id',
  'script_id',
  'group_id',
]);

function parseNumber(text: string): number | LosslessNumber {
  return isSafeNumber(text) ? Number(text) : new LosslessNumber(text);
}

function refuseDuplicate({ key }: { key: string }): never {
  throw new SyntaxError(`duplicate key "${key.slice(0, 64)}"`);
}

/** Keys that would reach an object's prototype when copied by assignment. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Parses untrusted JSON text; numbers that would lose precision stay exact. */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = parse(text, null, { parseNumber, onDuplicateKey: refuseDuplicate });
  } catch (err) {
    const reason = err instanceof RangeError ? 'nested too deeply' : (err as Error).message;
    throw new JsonInputError(`invalid JSON: ${reason}`);
  }
  return normalize(value, '', 0);
}

function normalize(value: unknown, path: string, depth: number): unknown {
  if (depth > MAX_DEPTH) {
    throw new JsonInputError(`invalid JSON: nested deeper than ${MAX_DEPTH} levels`);
  }
  if (value instanceof LosslessNumber) {
    return normalizeUnsafeNumber(value, path);
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => normalize(v, `${path}[${i}]`, depth + 1));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(k)) {
        throw new JsonInputError(`invalid JSON: the property name "${k}" is not allowed`);
      }
      const child = normalize(v, path === '' ? k : `${path}.${k}`, depth + 1);
      const isIdNumber = depth === 0 && ID_FIELDS.has(k) && typeof child === 'number';
      Object.defineProperty(out, k, {
        value: isIdNumber ? String(child) : child,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function normalizeUnsafeNumber(n: LosslessNumber, path: string): string | number {
  if (ID_FIELDS.has(path) && /^[0-9]+$/.test(n.value)) {
    return n.value;
  }
  const rounded = Number(n.value);
  if (!Number.isFinite(rounded)) {
    throw new JsonInputError(
      `invalid configuration: property "${path}" holds ${n.value.slice(0, 40)}, ` +
        'which is beyond the range of a number',
    );
  }
  if (!/^-?[0-9]+$/.test(n.value)) {
    // A decimal fraction or exponent that doubles cannot hold exactly is
    // rounded, as every JSON consumer rounds it.
    return rounded;
  }
  throw new JsonInputError(
    `invalid configuration: property "${path}" holds the integer ${n.value}, ` +
      'which is too large to keep exactly; send it as a string',
  );
}
