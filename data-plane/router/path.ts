/**
 * Turns the raw HTTP request-target into the one canonical path that is both
 * matched against routes and forwarded upstream. Matching one string and
 * forwarding another is how path-based access rules get bypassed, so every
 * ambiguity (dot segments, escapes, doubled slashes) is settled here, once.
 */

export interface Target {
  /** Canonical path: starts with `/`, no dot segments, no empty segments. */
  path: string;
  /** The raw query after the first `?`, without the `?`; empty when absent. */
  query: string;
}

export const TARGET_ERRORS = {
  EMPTY: 'empty request target',
  NOT_ASCII: 'request target has a byte outside printable ASCII',
  NOT_ORIGIN_FORM: 'request target must start with "/"',
  BAD_ESCAPE: 'malformed percent-escape in path',
  BACKSLASH: 'backslash in path',
  NUL: 'encoded NUL in path',
} as const;

const SLASH = 0x2f;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const HEX = '0123456789ABCDEF';

// Printable characters RFC 3986 does not allow raw in a path. They are
// escaped so that `|` and `%7C` end up as the same canonical path.
const ESCAPED_RAW = new Set([...'"<>[]^`{|}'].map((c) => c.charCodeAt(0)));

// One regular-expression test lets plain segments skip the decoding loop.
const NEEDS_DECODING = /[%\\"<>[\]^`{|}]/;

export function normalizeTarget(target: string): Target | { error: string } {
  if (target === '') {
    return { error: TARGET_ERRORS.EMPTY };
  }
  if (!isPrintableAscii(target)) {
    return { error: TARGET_ERRORS.NOT_ASCII };
  }
  // Absolute-form, authority-form and `*` are all refused: the route is
  // chosen by path alone, so a second source of truth for the host is a risk.
  if (target.charCodeAt(0) !== SLASH) {
    return { error: TARGET_ERRORS.NOT_ORIGIN_FORM };
  }

  const hash = target.indexOf('#');
  const withoutFragment = hash === -1 ? target : target.slice(0, hash);
  const q = withoutFragment.indexOf('?');
  const rawPath = q === -1 ? withoutFragment : withoutFragment.slice(0, q);
  const query = q === -1 ? '' : withoutFragment.slice(q + 1);

  const path = normalizePath(rawPath);
  return typeof path === 'string' ? { path, query } : path;
}

/**
 * Merges repeated slashes, canonicalises escapes segment by segment and then
 * removes dot segments (RFC 3986 5.2.4), so `%2E%2E` is treated as `..` but
 * `%2F` stays data inside its segment. Keeps a trailing slash.
 */
function normalizePath(raw: string): string | { error: string } {
  if (isAlreadyCanonical(raw)) {
    return raw;
  }

  const parts = raw.split('/');
  const out: string[] = [];
  let last = '';
  for (let i = 1; i < parts.length; i++) {
    const segment = canonicalSegment(parts[i] ?? '');
    if (typeof segment !== 'string') {
      return segment;
    }
    last = segment;
    if (segment === '..') {
      out.pop();
    } else if (segment !== '.' && segment !== '') {
      out.push(segment);
    }
  }

  // `/a/`, `/a/.` and `/a/b/..` all name a directory: keep the slash.
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  return '/' + out.join('/') + (trailing ? '/' : '');
}

/**
 * Decodes escapes of unreserved characters, upper-cases the hex of every
 * other escape and escapes raw characters a path may not hold. Exported so
 * route patterns can be put into the same canonical form as requests.
 */
export function canonicalSegment(segment: string): string | { error: string } {
  if (!NEEDS_DECODING.test(segment)) {
    return segment;
  }

  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c === BACKSLASH) {
      return { error: TARGET_ERRORS.BACKSLASH };
    }
    if (c === PERCENT) {
      const byte = hexByte(segment, i + 1);
      if (byte < 0) {
        return { error: TARGET_ERRORS.BAD_ESCAPE };
      }
      if (byte === 0) {
        // Upstreams written in C would end the path here.
        return { error: TARGET_ERRORS.NUL };
      }
      out += isUnreserved(byte) ? String.fromCharCode(byte) : escape(byte);
      i += 2;
    } else {
      out += ESCAPED_RAW.has(c) ? escape(c) : segment[i];
    }
  }
  return out;
}

/** True when no segment needs decoding, merging or dot removal. */
function isAlreadyCanonical(raw: string): boolean {
  if (NEEDS_DECODING.test(raw)) {
    return false;
  }
  for (let i = 0; i < raw.length; i++) {
    if (raw.charCodeAt(i) === SLASH && isSuspectAfterSlash(raw, i + 1)) {
      return false;
    }
  }
  return true;
}

// A slash followed by another slash or by a dot might start an empty or a
// dot segment; the slow path settles it (`/.well-known` is fine, just slower).
function isSuspectAfterSlash(raw: string, next: number): boolean {
  const c = raw.charCodeAt(next);
  return c === SLASH || c === 0x2e;
}

function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  return true;
}

function hexByte(text: string, at: number): number {
  if (at + 2 > text.length) {
    return -1;
  }
  const hi = hexDigit(text.charCodeAt(at));
  const lo = hexDigit(text.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) {
    return c - 0x30;
  }
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
function isUnreserved(c: number): boolean {
  const lower = c | 0x20;
  return (
    (lower >= 0x61 && lower <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e
  );
}

function escape(byte: number): string {
  return '%' + HEX.charAt(byte >> 4) + HEX.charAt(byte & 15);
}
