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
    const first = check.errors?.[0];
    return first ? describe(first) : 'validation failed';
  };
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
    default:
      return failed(path, e.message ?? e.keyword);
  }
}

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
