/**
 * User-supplied regular expressions (route `vars` with `~~` and `~*`) run
 * on RE2 (the `re2js` port), whose matching time is linear in the length of
 * the input, never on JavaScript's backtracking RegExp: a pattern such as
 * `(a|a)+$` would otherwise hold the data plane's one thread for seconds on
 * a near-miss. Both the Admin API's validation and the data plane's router
 * compile through here, so whatever one accepts the other can run.
 *
 * The syntax is RE2's, not PCRE's: backreferences, lookarounds, possessive
 * quantifiers, atomic groups and conditionals are refused, since none of
 * them can be matched in linear time. The rest of the common syntax means
 * the same (`\d`, `\w`, classes, `(?i)`, `(?:...)`, named groups).
 */
// Limitation: re2js keeps a match cache per compiled pattern that can grow to
// several MB under varied input, and its size cannot be set; thousands of
// regex routes could hold much memory.
import { RE2JS, RE2JSException } from 're2js';

/**
 * The most instructions a compiled pattern may have. Matching costs up to
 * the input's length times this when RE2 falls back from its DFA to its NFA,
 * so the bound keeps one request's worst case in milliseconds rather than
 * seconds. A list of thirty user agents `a|b|...` compiles to about 300.
 */
export const MAX_REGEX_INSTRUCTIONS = 1000;

/** A compiled pattern; `test` searches anywhere in the value. */
export interface SafeRegex {
  readonly source: string;
  test(value: string): boolean;
}

/** Thrown for a pattern that does not parse or that RE2 cannot run. */
export class RegexError extends Error {
  override readonly name = 'RegexError';
}

/**
 * Compiles `source` once, for matching later, as ngx.re.find does with
 * APISIX's `~~` (search anywhere) and `~*` (the same, ignoring case).
 * Throws a RegexError whose message quotes the pattern and says why.
 */
export function compileSafeRegex(source: string, ignoreCase = false): SafeRegex {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    if (!(err instanceof RE2JSException)) {
      throw err;
    }
    throw new RegexError(refusal(source, err), { cause: err });
  }
  const size = compiled.re2().numberOfInstructions() as number;
  if (size > MAX_REGEX_INSTRUCTIONS) {
    throw new RegexError(
      `the regular expression ${JSON.stringify(source)} is too large: it compiles to ${size} ` +
        `instructions, at most ${MAX_REGEX_INSTRUCTIONS} are allowed`,
    );
  }
  return { source, test: (value) => compiled.test(value) };
}

function refusal(source: string, err: RE2JSException): string {
  const reason = err.message.replace(/^error parsing regexp: /, '');
  const quoted = JSON.stringify(source);
  if (!parsesInJavaScript(source) && !reason.includes('unsupported')) {
    return `invalid regular expression ${quoted}: ${reason}`;
  }
  // Valid for a backtracking engine (JavaScript, or PCRE's `(?>...)`), not for RE2.
  return (
    `unsupported regular expression ${quoted}: ${reason}; backreferences, lookarounds and ` +
    'other constructs that need backtracking are not supported because matching must run ' +
    'in linear time (patterns use RE2 syntax)'
  );
}

// Only parses the pattern, to tell a typo from an unsupported construct in
// the message; nothing is ever matched with it.
function parsesInJavaScript(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
