/**
 * The path index of the router: a tree keyed by path segments. Each node has
 * its static children (inline when there is one, else in a Map), at most one
 * `:param` child, a slot for routes ending exactly there and slots for `*`
 * prefixes starting there.
 *
 * Adding or removing a pattern walks only that pattern's segments, and a
 * lookup walks only the request's segments, so neither grows with the
 * number of routes. The tree is generic over what a slot holds.
 */

import { LengthIndex } from './length-index.js';
import { canonicalSegment } from './path.js';

/** Stands for a `:name` segment; static segments never start with `:`. */
export const PARAM = ':';

export interface UriPattern {
  readonly uri: string;
  /** Static segment text, or PARAM for a `:name` segment. */
  readonly segments: readonly string[];
  /** Which segments are parameters, and their names. */
  readonly params: readonly { index: number; name: string }[];
  /** Set when the uri ends in `*`: the text between the last `/` and the `*`. */
  readonly prefix: string | undefined;
  /** Set for `*name`: the rest of the path is captured under this name. */
  readonly restName: string | undefined;
}

const NAME = /^[A-Za-z0-9_-]+$/;

// Shared by the many patterns without parameters.
const NO_PARAMS: readonly { index: number; name: string }[] = Object.freeze([]);

/** Parses a route uri; throws a TypeError saying what is wrong with it. */
export function parseUri(uri: string): UriPattern {
  if (!uri.startsWith('/')) {
    throw new TypeError(`uri "${uri}" must start with "/"`);
  }

  const star = uri.indexOf('*');
  const restName = star === -1 ? undefined : uri.slice(star + 1);
  if (restName !== undefined && restName !== '' && !isParamName(restName)) {
    throw new TypeError(`uri "${uri}" may only have "*" or "*name" at its end`);
  }

  const parts = uri.slice(1, star === -1 ? undefined : star).split('/');
  const prefix = star === -1 ? undefined : canonical(uri, parts.pop() ?? '');
  const params: { index: number; name: string }[] = [];
  const segments = parts.map((part, index) => {
    if (!part.startsWith(PARAM)) {
      return canonical(uri, part);
    }
    const name = part.slice(1);
    if (!isParamName(name)) {
      throw new TypeError(`uri "${uri}" has an invalid parameter name "${name}"`);
    }
    params.push({ index, name });
    return PARAM;
  });
  return {
    uri,
    segments,
    params: params.length === 0 ? NO_PARAMS : params,
    prefix,
    restName: restName === '' ? undefined : restName,
  };
}

// `__proto__` would set the prototype of the params object, not a key.
function isParamName(name: string): boolean {
  return NAME.test(name) && name !== '__proto__';
}

// Route patterns get the same canonical escapes as request paths, so the
// route `/%7Euser` matches the request `/~user`.
function canonical(uri: string, segment: string): string {
  const result = canonicalSegment(segment);
  if (typeof result !== 'string') {
    throw new TypeError(`uri "${uri}": ${result.error}`);
  }
  return result;
}

/** Where the segment starting at `pos` ends: the next `/` or the end. */
export function segmentEnd(path: string, pos: number): number {
  const slash = path.indexOf('/', pos);
  return slash === -1 ? path.length : slash;
}

/** Called on candidate slots, most specific first; a result ends the search. */
export type Visit<S, C, R> = (slot: S, context: C) => R | undefined;

class Node<S> {
  // Most nodes of a large table have one static child, so it is kept inline
  // (a Map costs about 200 bytes) and compared without slicing the path. A
  // Map replaces it when a second static child arrives.
  soleKey: string | undefined;
  sole: Node<S> | undefined;
  statics: Map<string, Node<S>> | undefined;
  param: Node<S> | undefined;
  exact: S | undefined;
  prefixes: LengthIndex<S> | undefined;

  isEmpty(): boolean {
    return (
      this.sole === undefined &&
      this.statics === undefined &&
      this.param === undefined &&
      this.exact === undefined &&
      this.prefixes === undefined
    );
  }
}

export class PathTree<S> {
  readonly #root = new Node<S>();

  /** The slot of a pattern, created with `create` when missing. */
  acquire(pattern: UriPattern, create: () => S): S {
    let node = this.#root;
    for (const segment of pattern.segments) {
      node = childOf(node, segment) ?? addChild(node, segment);
    }

    if (pattern.prefix === undefined) {
      node.exact ??= create();
      return node.exact;
    }
    node.prefixes ??= new LengthIndex<S>();
    const slot = node.prefixes.get(pattern.prefix) ?? create();
    node.prefixes.set(pattern.prefix, slot);
    return slot;
  }

  /** Drops the slot of a pattern and every node left empty by that. */
  release(pattern: UriPattern): void {
    const path: Node<S>[] = [this.#root];
    for (const segment of pattern.segments) {
      const child = childOf(path[path.length - 1] as Node<S>, segment);
      if (child === undefined) {
        return;
      }
      path.push(child);
    }

    dropSlot(path[path.length - 1] as Node<S>, pattern.prefix);
    for (let i = path.length - 1; i > 0; i--) {
      const node = path[i] as Node<S>;
      if (!node.isEmpty()) {
        return;
      }
      removeChild(path[i - 1] as Node<S>, pattern.segments[i - 1] as string);
    }
  }

  /**
   * Offers `visit` the slots matching `path`, most specific first, until it
   * returns a result. Exact slots come before any prefix slot; within each
   * pass a static segment is tried before a parameter, and deeper (longer)
   * prefixes before shallower ones.
   */
  find<C, R>(path: string, visit: Visit<S, C, R>, context: C): R | undefined {
    return (
      findExact(this.#root, path, 1, visit, context) ??
      findPrefix(this.#root, path, 1, visit, context)
    );
  }
}

function findExact<S, C, R>(
  node: Node<S>,
  path: string,
  pos: number,
  visit: Visit<S, C, R>,
  context: C,
): R | undefined {
  const end = segmentEnd(path, pos);
  const child = staticAt(node, path, pos, end);
  const found = child === undefined ? undefined : exactBelow(child, path, end, visit, context);
  if (found !== undefined || node.param === undefined || end === pos) {
    return found;
  }
  return exactBelow(node.param, path, end, visit, context);
}

function exactBelow<S, C, R>(
  node: Node<S>,
  path: string,
  end: number,
  visit: Visit<S, C, R>,
  context: C,
): R | undefined {
  if (end < path.length) {
    return findExact(node, path, end + 1, visit, context);
  }
  return node.exact === undefined ? undefined : visit(node.exact, context);
}

function findPrefix<S, C, R>(
  node: Node<S>,
  path: string,
  pos: number,
  visit: Visit<S, C, R>,
  context: C,
): R | undefined {
  const end = segmentEnd(path, pos);
  if (end < path.length) {
    const child = staticAt(node, path, pos, end);
    const found =
      (child === undefined ? undefined : findPrefix(child, path, end + 1, visit, context)) ??
      (node.param === undefined || end === pos
        ? undefined
        : findPrefix(node.param, path, end + 1, visit, context));
    if (found !== undefined) {
      return found;
    }
  }
  return node.prefixes === undefined
    ? undefined
    : findInSegment(node.prefixes, path, pos, end, visit, context);
}

// The prefixes stored at a node all lie within one segment: try each stored
// length that fits, longest first, with one Map lookup per length.
function findInSegment<S, C, R>(
  prefixes: LengthIndex<S>,
  path: string,
  pos: number,
  end: number,
  visit: Visit<S, C, R>,
  context: C,
): R | undefined {
  for (const length of prefixes.lengths) {
    const slot = length > end - pos ? undefined : prefixes.get(path.slice(pos, pos + length));
    const found = slot === undefined ? undefined : visit(slot, context);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/** The static child named by `path` from `pos` to `end`. */
function staticAt<S>(node: Node<S>, path: string, pos: number, end: number): Node<S> | undefined {
  const key = node.soleKey;
  if (key !== undefined) {
    return key.length === end - pos && path.startsWith(key, pos) ? node.sole : undefined;
  }
  return node.statics?.get(path.slice(pos, end));
}

function childOf<S>(node: Node<S>, segment: string): Node<S> | undefined {
  if (segment === PARAM) {
    return node.param;
  }
  return node.soleKey === segment ? node.sole : node.statics?.get(segment);
}

function addChild<S>(node: Node<S>, segment: string): Node<S> {
  const child = new Node<S>();
  if (segment === PARAM) {
    node.param = child;
  } else if (node.sole === undefined && node.statics === undefined) {
    node.soleKey = segment;
    node.sole = child;
  } else {
    node.statics ??= new Map([[node.soleKey as string, node.sole as Node<S>]]);
    node.statics.set(segment, child);
    node.soleKey = undefined;
    node.sole = undefined;
  }
  return child;
}

function removeChild<S>(node: Node<S>, segment: string): void {
  if (segment === PARAM) {
    node.param = undefined;
    return;
  }
  if (node.soleKey === segment) {
    node.soleKey = undefined;
    node.sole = undefined;
    return;
  }
  node.statics?.delete(segment);
  if (node.statics?.size === 0) {
    node.statics = undefined;
  }
}

function dropSlot<S>(node: Node<S>, prefix: string | undefined): void {
  if (prefix === undefined) {
    node.exact = undefined;
    return;
  }
  node.prefixes?.delete(prefix);
  if (node.prefixes?.size === 0) {
    node.prefixes = undefined;
  }
}
