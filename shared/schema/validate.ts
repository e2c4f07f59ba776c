/**
 * JSON Schema validation with messages in APISIX's style, naming the field:
 * `property "uri" is required`, `property "methods[0]" validation failed: ...`.
 */
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';

export type JsonSchema = Record<string, unknown>;

/** Returns an error message, or undefined when the value is valid. Fills defaults in place. */
export type Validator = (value: unknown) => string | undefined;

const ajv = new Ajv({
  allErrors: false,
  // Keeps the failing value on each error, for messages that show what was sent.
  verbose: true,
  useDefaults: true,
  // Plugin schemas use `dependencies` and descriptive keywords APISIX users know.
  strict: false,
  // Patterns are compiled with the `u` flag so `\S` and friends mean what users expect.
  unicodeRegExp: true,
});

export function compile(schema: JsonSchema): Validator {
  const check: ValidateFunction = ajv.compile(schema);
  return (value) => {
    if (check(value)) {
      return undefined;
    }
    const errors = check.errors ?? [];
    return errors.length > 0 ? describe(pick(errors)) : 'validation failed';
  };
}

const COMBINATORS = new Set(['anyOf', 'oneOf']);

/**
 * The error worth reporting. For a failed anyOf/oneOf, Ajv lists the first
 * error of every branch and then the combinator's own; the very first is
 * often a branch that was never meant, such as "expected object, got array"
 * for a list checked against the map form. The branch that got deepest into
 * the value names the real problem; when every branch failed on the type of
 * the same value, the types they allow are named together.
 */
function pick(errors: ErrorObject[]): ErrorObject {
  const first = errors[0] as ErrorObject;
  // The outermost combinator the first error is under, if any.
  const combinator = errors
    .filter((e) => COMBINATORS.has(e.keyword) && first.schemaPath.startsWith(`${e.schemaPath}/`))
    .sort((a, b) => a.schemaPath.length - b.schemaPath.length)[0];
  if (combinator === undefined) {
    return first;
  }
  const prefix = `${combinator.schemaPath}/`;
  const branches = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    if (e.schemaPath.startsWith(prefix)) {
      const branch = e.schemaPath.slice(prefix.length).split('/')[0] ?? '';
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
  }
  const picked = [...branches.values()].map(pick);
  const deepest = Math.max(...picked.map(depth));
  const candidates = picked.filter((e) => depth(e) === deepest);
  const best = candidates.find((e) => e.keyword !== 'type') ?? candidates[0];
  if (best === undefined) {
    return first;
  }
  if (best.keyword !== 'type' || candidates.length === 1) {
    return best;
  }
  const types = [...new Set(candidates.flatMap((e) => String(e.params.type).split(',')))];
  return { ...best, params: { type: types.join(' or ') } };
}

function depth(e: ErrorObject): number {
  return e.instancePath.split('/').length;
}

function fieldPath(instancePath: string): string {
  let out = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

function join(parent: string, child: string): string {
  return parent === '' ? child : `${parent}.${child}`;
}

function describe(e: ErrorObject): string {
  const path = fieldPath(e.instancePath);
  const p = e.params as Record<string, unknown>;

  switch (e.keyword) {
    case 'required':
      return `property "${join(path, String(p.missingProperty))}" is required`;
    case 'additionalProperties':
      return path === ''
        ? `additional properties forbidden, found "${String(p.additionalProperty)}"`
        : `property "${path}" validation failed: additional properties forbidden, ` +
            `found "${String(p.additionalProperty)}"`;
    case 'type':
      return failed(path, `wrong type: expected ${String(p.type)}, got ${typeOf(e.data)}`);
    case 'enum':
      return failed(path, `must be one of ${(p.allowedValues as unknown[]).map(show).join(', ')}`);
    case 'pattern':
      return failed(path, `failed to match pattern "${String(p.pattern)}" with ${show(e.data)}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return failed(path, `expected ${show(e.data)} to be ${BOUNDS[e.keyword]} ${String(p.limit)}`);
    default:
      return failed(path, e.message ?? e.keyword);
  }
}

/** APISIX's words for a number out of range: `expected 0 to be at least 1`. */
const BOUNDS: Record<string, string> = {
  minimum: 'at least',
  maximum: 'at most',
  exclusiveMinimum: 'greater than',
  exclusiveMaximum: 'less than',
};

function failed(path: string, why: string): string {
  return path === '' ? why : `property "${path}" validation failed: ${why}`;
}

function typeOf(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'array';
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    return 'integer';
  }
  return typeof value;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
