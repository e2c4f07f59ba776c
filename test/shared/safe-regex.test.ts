import assert from 'node:assert/strict';

import { RouteError, Router } from '../../data-plane/router/router.js';
import { compileSafeRegex, MAX_REGEX_INSTRUCTIONS, RegexError } from '../../shared/safe-regex.js';
import { validateResource } from '../../shared/schema/resources.js';

const UPSTREAM = { nodes: { '127.0.0.1:1980': 1 } };

/** The validator's verdict on a route with one `vars` rule: undefined when accepted. */
function validated(op: string, pattern: string): string | undefined {
  return validateResource('routes', {
    uri: '/x',
    vars: [['arg_a', op, pattern]],
    upstream: UPSTREAM,
  });
}

/** The data plane's router with that rule, or the RouteError it refused it with. */
function routed(op: string, pattern: string): Router<string> | RouteError {
  const router = new Router<string>();
  try {
    router.upsert({
      id: 'r',
      uris: ['/x'],
      priority: 0,
      value: 'r',
      vars: [['arg_a', op, pattern]],
    });
  } catch (err) {
    assert.ok(err instanceof RouteError);
    return err;
  }
  return router;
}

function routeMatches(router: Router<string>, value: string): boolean {
  const req = {
    path: '/x',
    method: 'GET',
    host: 'localhost',
    remoteAddr: '127.0.0.1',
    getVar: (name: string) => (name === 'arg_a' ? value : undefined),
  };
  return router.match(req)?.id === 'r';
}

// Patterns that backtrack exponentially (or nearly) in JavaScript's RegExp
// on a near-miss; RE2 runs them all in linear time, so all are accepted.
const HOSTILE: [pattern: string, nearMiss: string, hit: string][] = [
  ['((a+))+$', `${'a'.repeat(29)}!`, 'a'.repeat(30)],
  ['(a|a)+$', `${'a'.repeat(29)}!`, `!${'a'.repeat(29)}`],
  ['(a|aa)+$', `${'a'.repeat(29)}!`, 'a'.repeat(30)],
  ['(\\w|\\d)+$', `${'1'.repeat(29)}-`, `-${'1'.repeat(29)}`],
  ['(.*a){25}$', `${'a'.repeat(29)}!`, 'a'.repeat(30)],
  ['^(a+)+$', `${'a'.repeat(29)}!`, 'a'.repeat(30)],
];

describe('compileSafeRegex', function () {
  for (const [pattern, nearMiss, hit] of HOSTILE) {
    it(`should run ${pattern} on a hostile 30-character input`, function () {
      assert.equal(nearMiss.length, 30);
      const re = compileSafeRegex(pattern);

      assert.equal(re.test(nearMiss), false);
      assert.equal(re.test(hit), true);
    });

    it(`should agree with a backtracking engine on ${pattern} for short inputs`, function () {
      const re = compileSafeRegex(pattern);
      const js = new RegExp(pattern);
      for (const s of [
        '',
        'a',
        'aa!',
        '!a',
        'a1',
        '1-',
        'b'.repeat(5),
        'a'.repeat(25),
        'a'.repeat(24),
      ]) {
        assert.equal(re.test(s), js.test(s), JSON.stringify(s));
      }
    });
  }

  it('should search anywhere in the value, as ngx.re.find does', function () {
    const re = compileSafeRegex('bot');

    assert.equal(re.test('googlebot/2.1'), true);
    assert.equal(re.test('curl'), false);
  });

  it('should ignore case only when asked', function () {
    assert.equal(compileSafeRegex('^curl/').test('Curl/8.0'), false);
    assert.equal(compileSafeRegex('^curl/', true).test('Curl/8.0'), true);
    assert.equal(compileSafeRegex('^curl/', true).test('wget'), false);
  });

  it('should refuse a backreference as unsupported for linear time', function () {
    assert.throws(
      () => compileSafeRegex('(a)\\1'),
      (err: unknown) =>
        err instanceof RegexError &&
        /^unsupported regular expression "\(a\)\\\\1": invalid escape sequence/.test(err.message) &&
        /backreferences, lookarounds .* not supported because matching must run in linear time/.test(
          err.message,
        ),
    );
  });

  for (const pattern of ['(?=a)b', '(?!a)b', '(?<=a)b', '(?<!a)b', '(?>a+)b']) {
    it(`should refuse ${pattern} as unsupported`, function () {
      assert.throws(() => compileSafeRegex(pattern), /^RegexError: unsupported regular expression/);
    });
  }

  it('should call a plain syntax error invalid', function () {
    assert.throws(
      () => compileSafeRegex('('),
      /^RegexError: invalid regular expression "\(": missing closing \)/,
    );
  });

  it(`should refuse a pattern of more than ${MAX_REGEX_INSTRUCTIONS} instructions`, function () {
    assert.throws(() => compileSafeRegex('(.*a){1000}$'), /is too large: it compiles to \d+ instr/);
    assert.doesNotThrow(() => compileSafeRegex('(.*a){100}$'));
  });
});

describe('vars regexes in validation and in the router', function () {
  for (const [pattern, nearMiss, hit] of HOSTILE) {
    for (const op of ['~~', '~*']) {
      it(`should accept ${op} ${pattern} in both and match it in linear time`, function () {
        assert.equal(validated(op, pattern), undefined);
        const router = routed(op, pattern);
        assert.ok(router instanceof Router);

        assert.equal(routeMatches(router, nearMiss), false);
        assert.equal(routeMatches(router, hit), true);
      });
    }
  }

  for (const pattern of ['(a)\\1', '(?=a)b', '(?<!a)b', '(', '(.*a){1000}$']) {
    it(`should refuse ${pattern} in both with the same message`, function () {
      const err = validated('~~', pattern);
      assert.match(err ?? '', /^property "vars\[0\]" validation failed: /);
      const routeErr = routed('~~', pattern);
      assert.ok(routeErr instanceof RouteError);
      assert.ok(
        err?.endsWith(routeErr.message.replace(/^.*?vars\[0\]: /, '')),
        `${err} / ${routeErr.message}`,
      );
    });
  }

  it('should name the field and the reason for a backreference', function () {
    assert.match(
      validated('~~', '(a)\\1') ?? '',
      /^property "vars\[0\]" validation failed: unsupported regular expression .* not supported because matching must run in linear time/,
    );
  });

  it('should refuse a regular expression that is not a string', function () {
    assert.match(
      validateResource('routes', { uri: '/x', vars: [['arg_a', '~~', 5]], upstream: UPSTREAM }) ??
        '',
      /vars\[0\]" validation failed: a regular expression needs a string/,
    );
  });

  it('should match ~* without regard to case and ~~ with it', function () {
    const insensitive = routed('~*', '^beta-[a-z]+$');
    const sensitive = routed('~~', '^beta-[a-z]+$');
    assert.ok(insensitive instanceof Router && sensitive instanceof Router);

    assert.equal(routeMatches(insensitive, 'BETA-Users'), true);
    assert.equal(routeMatches(sensitive, 'BETA-Users'), false);
    assert.equal(routeMatches(sensitive, 'beta-users'), true);
  });
});
