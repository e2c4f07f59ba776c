import assert from 'node:assert/strict';

import { normalizeTarget, TARGET_ERRORS } from '../../data-plane/router/path.js';

describe('normalizeTarget', function () {
  const accepted: [target: string, path: string, query: string][] = [
    ['/', '/', ''],
    ['/a/b', '/a/b', ''],
    ['/a/b/', '/a/b/', ''],
    ['/a?b=c', '/a', 'b=c'],
    ['/a?b=c?d', '/a', 'b=c?d'],
    ['/a?', '/a', ''],
    ['/a#frag', '/a', ''],
    ['/a?b=c#frag', '/a', 'b=c'],
    ['/a?x=%zz&y=..', '/a', 'x=%zz&y=..'],
    ['/a/./b', '/a/b', ''],
    ['/a/.', '/a/', ''],
    ['/a/b/..', '/a/', ''],
    ['/public/../admin/x', '/admin/x', ''],
    ['/public/%2e%2e/admin', '/admin', ''],
    ['/public/%2E%2E/admin', '/admin', ''],
    ['/public/.%2e/admin', '/admin', ''],
    ['/public/%2e/admin', '/public/admin', ''],
    ['/..', '/', ''],
    ['/../../a', '/a', ''],
    ['/a/../..', '/', ''],
    ['/a/%2F..', '/a/%2F..', ''],
    ['/a/%2F../b', '/a/%2F../b', ''],
    ['/a%2fb', '/a%2Fb', ''],
    ['/a%5cb', '/a%5Cb', ''],
    ['/%41', '/A', ''],
    ['/%7euser', '/~user', ''],
    ['/%2D%2e%5F%7E', '/-._~', ''],
    ['/caf%c3%a9', '/caf%C3%A9', ''],
    ['/%25', '/%25', ''],
    ['/%2541', '/%2541', ''],
    ['/a%3Ab', '/a%3Ab', ''],
    ['/a:b@c;d=e', '/a:b@c;d=e', ''],
    ['/a|b', '/a%7Cb', ''],
    ['/a%7cb', '/a%7Cb', ''],
    ['/{x}', '/%7Bx%7D', ''],
    ['//evil.com/x', '/evil.com/x', ''],
    ['///a', '/a', ''],
    ['/a//b', '/a/b', ''],
    ['/a//', '/a/', ''],
    ['//', '/', ''],
    ['/.well-known/x', '/.well-known/x', ''],
    ['/a/..b/c', '/a/..b/c', ''],
    ['/a/...', '/a/...', ''],
  ];

  for (const [target, path, query] of accepted) {
    const withQuery = query === '' ? '' : ` with query ${query}`;
    it(`should turn ${target} into ${path}${withQuery}`, function () {
      assert.deepEqual(normalizeTarget(target), { path, query });
    });
  }

  const refused: [target: string, error: string][] = [
    ['', TARGET_ERRORS.EMPTY],
    ['http://evil.com/x', TARGET_ERRORS.NOT_ORIGIN_FORM],
    ['evil.com:443', TARGET_ERRORS.NOT_ORIGIN_FORM],
    ['*', TARGET_ERRORS.NOT_ORIGIN_FORM],
    ['a/b', TARGET_ERRORS.NOT_ORIGIN_FORM],
    ['?a=b', TARGET_ERRORS.NOT_ORIGIN_FORM],
    ['/a b', TARGET_ERRORS.NOT_ASCII],
    ['/a\tb', TARGET_ERRORS.NOT_ASCII],
    ['/a\x00', TARGET_ERRORS.NOT_ASCII],
    ['/a\x7f', TARGET_ERRORS.NOT_ASCII],
    ['/caf\u00e9', TARGET_ERRORS.NOT_ASCII],
    ['/a?q=\u00e9', TARGET_ERRORS.NOT_ASCII],
    ['/a%zz', TARGET_ERRORS.BAD_ESCAPE],
    ['/a%4', TARGET_ERRORS.BAD_ESCAPE],
    ['/a%', TARGET_ERRORS.BAD_ESCAPE],
    ['/%%41', TARGET_ERRORS.BAD_ESCAPE],
    ['/a\\b', TARGET_ERRORS.BACKSLASH],
    ['/a\\..\\admin', TARGET_ERRORS.BACKSLASH],
  ];

  for (const [target, error] of refused) {
    it(`should refuse ${JSON.stringify(target)} with "${error}"`, function () {
      assert.deepEqual(normalizeTarget(target), { error });
    });
  }

  it('should return a canonical path unchanged', function () {
    for (const [, path] of accepted) {
      assert.deepEqual(normalizeTarget(path), { path, query: '' }, path);
    }
  });
});

describe('normalizeTarget on generated targets', function () {
  // A fixed-seed generator keeps failures reproducible.
  function generator(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
  }

  const pieces = ['/', '//', '.', '..', '%2e', '%2E', '%2f', '%41', '%7e', 'a', 'B', '~', '|', ':'];

  it('should always produce an idempotent path free of dot and empty segments', function () {
    const random = generator(7);
    for (let n = 0; n < 5000; n++) {
      let target = '/';
      const length = Math.floor(random() * 10);
      for (let i = 0; i < length; i++) {
        target += pieces[Math.floor(random() * pieces.length)];
      }

      const result = normalizeTarget(target);
      assert.ok('path' in result, target);
      assert.match(result.path, /^\//, target);
      assert.doesNotMatch(result.path, /\/\/|\/\.\.?(\/|$)|%[0-9A-F]?[a-f]/, target);
      assert.deepEqual(normalizeTarget(result.path), { path: result.path, query: '' }, target);
    }
  });
});
