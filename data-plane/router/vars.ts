/**
 * Compiles an APISIX `vars` expression into one predicate, once per route
 * change, so that a request only pays for lookups and comparisons.
 *
 * An expression is a list of rules that must all hold: `[name, op, value]`
 * or `[name, '!', op, value]`. A variable that is missing fails every
 * operator except `~=`; negation flips the result after that.
 *
 * Limitation: lua-resty-expr's nested `["OR", ...]` / `["AND", ...]` groups
 * are not supported (the Admin API schema refuses them too).
 */
import { compileSafeRegex } from '../../shared/safe-regex.js';
import type { SafeRegex } from '../../shared/safe-regex.js';

export interface VarSource {
  getVar(name: string): string | undefined;
}

export type VarsCheck = (source: VarSource) => boolean;

type Test = (value: string | undefined) => boolean;

export const VAR_OPERATORS = ['==', '~=', '>', '<', '>=', '<=', '~~', '~*', 'in', 'has'] as const;

type Operator = (typeof VAR_OPERATORS)[number];

const BUILDERS: Record<Operator, (operand: unknown) => Test> = {
  '==': (operand) => equalTo(operand),
  '~=': (operand) => {
    const equal = equalTo(operand);
    return (value) => !equal(value);
  },
  '>': (operand) => compareTo(operand, (a, b) => a > b),
  '<': (operand) => compareTo(operand, (a, b) => a < b),
  '>=': (operand) => compareTo(operand, (a, b) => a >= b),
  '<=': (operand) => compareTo(operand, (a, b) => a <= b),
  '~~': (operand) => matches(operand, false),
  '~*': (operand) => matches(operand, true),
  in: (operand) => oneOf(operand),
  // Substring test on the variable's text: our variables are strings, where
  // lua-resty-expr's `has` looks for an item in an array-valued variable.
  has: (operand) => {
    const needle = text(operand, 'has');
    return (value) => value !== undefined && value.includes(needle);
  },
};

/** Throws a TypeError naming the first bad rule. */
export function compileVars(rules: unknown): VarsCheck {
  if (!Array.isArray(rules)) {
    throw new TypeError('vars must be an array of rules');
  }
  const checks = rules.map((rule: unknown, i) => {
    try {
      return compileRule(rule);
    } catch (err) {
      throw new TypeError(`vars[${i}]: ${(err as Error).message}`, { cause: err });
    }
  });

  if (checks.length === 0) {
    return () => true;
  }
  return (source) => {
    for (let i = 0; i < checks.length; i++) {
      if (!(checks[i] as VarsCheck)(source)) {
        return false;
      }
    }
    return true;
  };
}

function compileRule(rule: unknown): VarsCheck {
  if (!Array.isArray(rule) || rule.length < 3 || rule.length > 4) {
    throw new TypeError('expected [variable, operator, value] or [variable, "!", operator, value]');
  }
  const negated = rule.length === 4;
  const [name, op, operand] = (negated ? [rule[0], rule[2], rule[3]] : rule) as unknown[];
  if (negated && rule[1] !== '!') {
    throw new TypeError('a rule of four items must have "!" second');
  }
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('the variable name must be a non-empty string');
  }
  if (!isOperator(op)) {
    throw new TypeError(`unknown operator ${JSON.stringify(op)}`);
  }

  const test = BUILDERS[op](operand);
  return negated ? (source) => !test(source.getVar(name)) : (source) => test(source.getVar(name));
}

function isOperator(op: unknown): op is Operator {
  return (VAR_OPERATORS as readonly unknown[]).includes(op);
}

// A number operand compares numerically, as lua-resty-expr does: the rule
// `["arg_n", "==", 5]` holds for `?n=5.0`.
function equalTo(operand: unknown): Test {
  if (typeof operand === 'number') {
    return (value) => value !== undefined && toNumber(value) === operand;
  }
  const expected = text(operand, '==');
  return (value) => value === expected;
}

function compareTo(operand: unknown, holds: (a: number, b: number) => boolean): Test {
  const bound = typeof operand === 'number' ? operand : toNumber(text(operand, 'a comparison'));
  if (bound === undefined) {
    throw new TypeError(`a comparison needs a number, got ${JSON.stringify(operand)}`);
  }
  return (value) => {
    const n = value === undefined ? undefined : toNumber(value);
    return n !== undefined && holds(n, bound);
  };
}

// Patterns run on RE2 (see shared/safe-regex.ts), compiled here once per
// route change: matching takes time linear in the value's length, and
// `test` searches anywhere in it, as ngx.re.find does for APISIX.
// Limitation: the syntax is RE2's, not PCRE's, so a pattern with
// backreferences, lookarounds, possessive quantifiers or atomic groups is
// refused; most APISIX patterns mean the same in both.
function matches(operand: unknown, ignoreCase: boolean): Test {
  const source = text(operand, 'a regular expression');
  let pattern: SafeRegex;
  try {
    pattern = compileSafeRegex(source, ignoreCase);
  } catch (err) {
    throw new TypeError((err as Error).message, { cause: err });
  }
  return (value) => value !== undefined && pattern.test(value);
}

function oneOf(operand: unknown): Test {
  if (!Array.isArray(operand)) {
    throw new TypeError('the operator "in" takes an array');
  }
  const items = operand as unknown[];
  if (!items.every((item) => typeof item === 'string' || typeof item === 'number')) {
    throw new TypeError('the operator "in" takes an array of strings and numbers');
  }
  const strings = new Set(items.filter((item): item is string => typeof item === 'string'));
  const numbers = new Set(items.filter((item): item is number => typeof item === 'number'));

  return (value) => {
    if (value === undefined) {
      return false;
    }
    const n = numbers.size === 0 ? undefined : toNumber(value);
    return strings.has(value) || (n !== undefined && numbers.has(n));
  };
}

function text(operand: unknown, what: string): string {
  if (typeof operand !== 'string') {
    throw new TypeError(`${what} needs a string, got ${JSON.stringify(operand)}`);
  }
  return operand;
}

// Like Lua's tonumber for the decimal forms a query or header carries; an
// empty or blank string is not a number (JavaScript would say 0).
function toNumber(value: string): number | undefined {
  if (value.trim() === '') {
    return undefined;
  }
  const n = Number(value);
  return Number.isNaN(n) ? undefined : n;
}
