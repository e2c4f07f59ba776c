import assert from 'node:assert/strict';

import { SignJWT } from 'jose';

import { openConsumer } from '../../shared/consumer-secrets.js';
import { emailKey, failureKey, revokedBeforeKey } from '../../shared/keys.js';
import { VIEWER_KEY } from '../helpers/admin.js';
import { startTestEtcd } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { bearer, from, LOCK, logIn, signUp, startAccountCluster } from '../helpers/accounts.js';
import type { TestNode } from '../helpers/data-plane.js';
import { NOT_UTF8, rawJson } from '../helpers/raw-json.js';
import type { AccountCluster } from '../helpers/accounts.js';

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

const ALICE = { username: 'alice', email: 'Alice@Example.com', password: 'violet-harbour-42' };
const INVALID = { message: 'invalid username or password' };
const REFUSED = { message: 'failed to verify jwt' };

type Plugin = Record<string, unknown>;

describe('consumer-signup, password-login and jwt-logout', function () {
  let etcd: TestEtcd;
  let c: AccountCluster;

  before(async function () {
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    c = await startAccountCluster(etcd);
  });
  afterEach(async function () {
    await c.close();
  });

  async function storedConsumer(username: string): Promise<Record<string, unknown>> {
    const kv = await c.store.get(`/consumers/${username}`);
    assert.ok(kv, `consumer ${username} is stored`);
    return openConsumer(JSON.parse(kv.value) as Record<string, unknown>, c.keyring);
  }

  async function storedHash(username: string): Promise<string> {
    const plugins = (await storedConsumer(username)).plugins as Record<string, Plugin>;
    return String(plugins['password-login']?.password_hash);
  }

  describe('sign-up', function () {
    it('should create a consumer that passes the Admin API, without its password hash', async function () {
      await signUp(c, ALICE);
      const res = await c.admin.request('GET', '/apisix/admin/consumers/alice');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.body.value.plugins).sort(), ['jwt-auth', 'password-login']);
      assert.deepEqual(res.body.value.plugins['password-login'], {});
      const jwt = res.body.value.plugins['jwt-auth'];
      assert.equal(jwt.key, 'alice@example.com');
      assert.equal(jwt.exp, 600);
      assert.match(jwt.secret, /^[0-9a-f]{64}$/);
      assert.equal(typeof res.body.value.create_time, 'number');
      assert.equal(await c.store.get(emailKey(ALICE.email)).then((kv) => kv?.value), 'alice');
    });

    it('should refuse a taken username and a taken email with 409', async function () {
      await signUp(c, ALICE);
      const sameName = { ...ALICE, email: 'other@example.com' };
      const sameEmail = { ...ALICE, username: 'alice2', email: 'ALICE@example.COM' };
      for (const node of c.nodes) {
        const name = await c.post(node, '/signup', sameName);
        assert.equal(name.status, 409);
        assert.deepEqual(name.body, { message: 'username already taken' });
        const email = await c.post(node, '/signup-by-name', sameEmail);
        assert.equal(email.status, 409);
        assert.deepEqual(email.body, { message: 'email already registered' });
      }
    });

    it('should let only one of two nodes create the same username at once', async function () {
      const [a, b] = await Promise.all([
        c.post(c.nodes[0], '/signup', { ...ALICE, email: 'a@example.com' }),
        c.post(c.nodes[1], '/signup', { ...ALICE, email: 'b@example.com' }),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [201, 409]);
      const loser = a.status === 409 ? 'a@example.com' : 'b@example.com';
      assert.equal(await c.store.get(emailKey(loser)), undefined, 'its reservation is released');
    });

    it('should let only one of two nodes register the same email at once', async function () {
      const [a, b] = await Promise.all([
        c.post(c.nodes[0], '/signup-by-name', { ...ALICE, username: 'first' }),
        c.post(c.nodes[1], '/signup-by-name', { ...ALICE, username: 'second' }),
      ]);
      assert.deepEqual([a.status, b.status].sort(), [201, 409]);
      assert.deepEqual((a.status === 409 ? a : b).body, { message: 'email already registered' });
    });

    it('should free the email of a consumer the Admin API deletes, and only that one', async function () {
      await signUp(c, ALICE, '/signup-by-name');
      const bob = { username: 'bob', email: 'bob@example.com', password: ALICE.password };
      await signUp(c, bob, '/signup-by-name');
      const deleted = await c.admin.request('DELETE', '/apisix/admin/consumers/alice');
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal(await c.store.get(emailKey(ALICE.email)), undefined);
      assert.equal((await c.store.get(emailKey(bob.email)))?.value, 'bob');

      await c.onBoth((n) => !n.sync.state.consumers.has('alice'));
      const again = { ...ALICE, username: 'alice-again' };
      await signUp(c, again, '/signup-by-name');
      assert.equal((await c.store.get(emailKey(ALICE.email)))?.value, 'alice-again');
      const taken = await c.post(c.nodes[1], '/signup-by-name', { ...bob, username: 'bob2' });
      assert.deepEqual(taken.body, { message: 'email already registered' });
    });

    it('should take over the email of a consumer deleted by another tool, not a pending one', async function () {
      await signUp(c, ALICE);
      await c.store.delete('/consumers/alice');
      await c.onBoth((n) => !n.sync.state.consumers.has('alice'));
      await signUp(c, { ...ALICE, username: 'alice2' });
      assert.equal((await c.store.get(emailKey(ALICE.email)))?.value, 'alice2');

      const pending = 'pending@example.com';
      await c.store.put(emailKey(pending), 'pending:someone', { ttlSeconds: 60 });
      const res = await c.post(c.nodes[1], '/signup', {
        ...ALICE,
        username: 'pat',
        email: pending,
      });
      assert.equal(res.status, 409, res.text);
      assert.deepEqual(res.body, { message: 'email already registered' });
    });

    it('should refuse weak or malformed input with a message saying why', async function () {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ ...ALICE, password: 'short-1' }, /10 to 256 characters/],
        [{ ...ALICE, password: 'Password123' }, /too common/],
        [{ ...ALICE, password: 'qwertyuiop' }, /too common/],
        [{ ...ALICE, username: 'alice-the-user', password: 'Alice-The-User' }, /must differ/],
        [{ ...ALICE, password: 'alice@example.com' }, /must differ/],
        [{ ...ALICE, email: 'not-an-email' }, /"email"/],
        [{ ...ALICE, email: 'a b@example.com' }, /"email"/],
        [{ ...ALICE, email: 'a@@example.com' }, /"email"/],
        [{ ...ALICE, email: `${'a'.repeat(250)}@example.com` }, /"email"/],
        [{ ...ALICE, username: 'al' }, /"username"/],
        [{ ...ALICE, username: 'al ice' }, /"username"/],
        [{ ...ALICE, role: 'admin', plugins: {} }, /unexpected fields: "role", "plugins"/],
        [{ username: 'alice', email: ALICE.email }, /"password" is required/],
      ];
      for (const [body, message] of cases) {
        const res = await c.post(c.nodes[0], '/signup', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(res.body.message, message);
        assert.ok(!res.text.includes(String(body.password ?? '\0')), 'no password in answers');
      }
      assert.equal(await c.store.get('/consumers/alice'), undefined);
    });

    it('should answer 405 to other methods, 413 to large bodies and 400 to non-JSON', async function () {
      const get = await c.nodes[0].request('/signup');
      assert.equal(get.status, 405);
      assert.equal(get.headers.allow, 'POST');
      const large = await c.post(c.nodes[0], '/signup', { ...ALICE, pad: 'x'.repeat(17_000) });
      assert.equal(large.status, 413);
      assert.equal((await c.post(c.nodes[0], '/signup', 'nope')).status, 400);
    });

    it('should limit sign-ups per client address across all nodes', async function () {
      const limited = { 'consumer-signup': { rate_limit: { count: 2, window_seconds: 60 } } };
      await c.put('/routes/signup', { uri: '/signup', plugins: limited });
      const user = (n: number) => ({ ...ALICE, username: `user${n}`, email: `u${n}@example.com` });
      assert.equal((await c.post(c.nodes[0], '/signup', user(1), from('10.1.0.1'))).status, 201);
      assert.equal((await c.post(c.nodes[1], '/signup', user(2), from('10.1.0.1'))).status, 201);
      for (const node of c.nodes) {
        const refused = await c.post(node, '/signup', user(3), from('10.1.0.1'));
        assert.equal(refused.status, 429);
        assert.ok(Number(refused.headers['retry-after']) > 0);
      }
      assert.equal((await c.post(c.nodes[1], '/signup', user(4), from('10.1.0.2'))).status, 201);
      assert.equal(await c.store.get('/consumers/user3'), undefined);
    });

    it('should hold the limit against a burst split across nodes', async function () {
      const limited = { 'consumer-signup': { rate_limit: { count: 3, window_seconds: 60 } } };
      await c.put('/routes/signup', { uri: '/signup', plugins: limited });
      const attempts = Array.from({ length: 10 }, (_, n) =>
        c.post(
          n % 2 === 0 ? c.nodes[0] : c.nodes[1],
          '/signup',
          {
            ...ALICE,
            username: `burst${n}`,
            email: `b${n}@example.com`,
          },
          from('10.1.0.9'),
        ),
      );
      const statuses = (await Promise.all(attempts)).map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 201).length, 3, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 7, statuses.join(','));
    });

    it('should give a self-registered consumer jwt-auth and password-login only', async function () {
      const sneaky = { ...ALICE, plugins: { 'test-tag': { tag: 'x' } } };
      assert.equal((await c.post(c.nodes[0], '/signup', sneaky)).status, 400);
      await signUp(c, ALICE);
      const stored = await storedConsumer('alice');
      assert.deepEqual(Object.keys(stored).sort(), [
        'create_time',
        'plugins',
        'update_time',
        'username',
      ]);
      const plugins = stored.plugins as Record<string, Plugin>;
      assert.deepEqual(Object.keys(plugins).sort(), ['jwt-auth', 'password-login']);
      assert.deepEqual(Object.keys(plugins['password-login'] ?? {}), ['password_hash']);
      assert.match(String(plugins['password-login']?.password_hash), /^scrypt\$16384\$8\$1\$/);
      const raw = (await c.store.get('/consumers/alice'))?.value ?? '';
      assert.ok(!raw.includes('scrypt$'), 'the hash is sealed at rest');
    });
  });

  describe('password login', function () {
    beforeEach(async function () {
      await signUp(c, ALICE);
    });

    it('should hand out a token that jwt-auth routes accept on every node', async function () {
      const token = await logIn(c, c.nodes[0], { username: 'alice', password: ALICE.password });
      for (const node of c.nodes) {
        const res = await node.request('/ip', { headers: bearer(token) });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.headers['x-consumer-username'], 'alice');
      }
      const byEmail = await c.post(c.nodes[1], '/login', {
        email: 'ALICE@example.com',
        password: ALICE.password,
      });
      assert.equal(byEmail.status, 200, byEmail.text);
      assert.equal(byEmail.body.expires_in, 600);
    });

    it('should find a username-keyed consumer by its email reservation', async function () {
      const bob = { username: 'bob', email: 'bob@example.com', password: 'granite-otter-77' };
      await signUp(c, bob, '/signup-by-name');
      const token = await logIn(c, c.nodes[1], { email: bob.email, password: bob.password });
      const res = await c.nodes[0].request('/ip', { headers: bearer(token) });
      assert.equal(res.body.headers['x-consumer-username'], 'bob');
    });

    it('should answer a wrong password and an unknown user alike', async function () {
      const wrong = await c.post(c.nodes[0], '/login', { username: 'alice', password: 'nope' });
      const unknown = await c.post(c.nodes[0], '/login', { username: 'zed', password: 'nope' });
      const noEmail = await c.post(c.nodes[0], '/login', { email: 'z@x.io', password: 'nope' });
      for (const res of [wrong, unknown, noEmail]) {
        assert.equal(res.status, 401);
        assert.deepEqual(res.body, INVALID);
        assert.equal(res.text, wrong.text);
      }
      const extra = await c.post(c.nodes[0], '/login', { ...ALICE });
      assert.equal(extra.status, 400);
    });

    it('should lock an account on every node after repeated failures', async function () {
      const wrong = { username: 'alice', password: 'x' };
      for (const [i, address] of ['10.2.0.1', '10.2.0.2', '10.2.0.3'].entries()) {
        const res = await c.post(c.nodes[i % 2 === 0 ? 0 : 1], '/login', wrong, from(address));
        assert.equal(res.status, 401);
      }
      const key = failureKey('account', 'alice');
      await c.onBoth((n) => (n.sync.state.accounts.counters.get(key)?.count ?? 0) >= 3);
      const right = { username: 'alice', password: ALICE.password };
      const locked = await c.post(c.nodes[1], '/login', right, from('10.2.0.9'));
      assert.equal(locked.status, 429);
      assert.deepEqual(locked.body, { message: 'too many failed logins, try again later' });
      const retry = Number(locked.headers['retry-after']);
      assert.ok(retry > 0 && retry <= LOCK.lock_seconds, String(retry));
      const other = { username: 'other', email: 'o@example.com', password: 'granite-otter-77' };
      await signUp(c, other);
      await logIn(c, c.nodes[1], { username: 'other', password: other.password });
    });

    it('should check no more than max_failures of many concurrent guesses', async function () {
      const guesses = Array.from({ length: 20 }, (_, n) =>
        c.post(
          n % 2 === 0 ? c.nodes[0] : c.nodes[1],
          '/login',
          { username: 'alice', password: `guess-${n}` },
          from(`10.5.0.${n + 1}`),
        ),
      );
      const statuses = (await Promise.all(guesses)).map((r) => r.status);
      const checked = statuses.filter((s) => s === 401).length;
      assert.ok(checked >= 1 && checked <= LOCK.max_failures, statuses.join(','));
      assert.equal(statuses.filter((s) => s === 429).length, 20 - checked, statuses.join(','));
      const right = await c.post(c.nodes[0], '/login', {
        username: 'alice',
        password: ALICE.password,
      });
      assert.equal(right.status, 429, 'the account stays locked, even for the right password');
    });

    it('should leave no failure count behind after a successful login', async function () {
      await logIn(c, c.nodes[0], { username: 'alice', password: ALICE.password });
      assert.equal(await c.store.get(failureKey('account', 'alice')), undefined);
    });

    it('should lock a client address that fails on many accounts', async function () {
      for (const name of ['u1', 'u2', 'u3']) {
        const res = await c.post(
          c.nodes[0],
          '/login',
          { username: name, password: 'x' },
          from('10.3.0.1'),
        );
        assert.equal(res.status, 401);
      }
      const key = failureKey('address', '10.3.0.1');
      await c.onBoth((n) => n.sync.state.accounts.counters.has(key));
      const right = { username: 'alice', password: ALICE.password };
      assert.equal((await c.post(c.nodes[1], '/login', right, from('10.3.0.1'))).status, 429);
      assert.equal((await c.post(c.nodes[1], '/login', right, from('10.3.0.2'))).status, 200);
    });

    it('should forget the failures of an account after a success', async function () {
      await c.post(c.nodes[0], '/login', { username: 'alice', password: 'x' });
      const key = failureKey('account', 'alice');
      await c.onBoth((n) => n.sync.state.accounts.counters.get(key)?.count === 1);
      await logIn(c, c.nodes[0], { username: 'alice', password: ALICE.password });
      assert.equal(await c.store.get(key), undefined);
    });
    it('should forget failures when the window ends, the store deleting the counter', async function () {
      await c.put('/routes/login', {
        uri: '/login',
        plugins: { 'password-login': { ...LOCK, window_seconds: 2 } },
      });
      await c.post(c.nodes[0], '/login', { username: 'alice', password: 'x' });
      const key = failureKey('account', 'alice');
      await c.onBoth((n) => n.sync.state.accounts.counters.has(key));
      await c.onBoth((n) => !n.sync.state.accounts.counters.has(key), 10_000);
      assert.equal(await c.store.get(key), undefined);
    });
  });

  describe('logout', function () {
    let token: string;
    beforeEach(async function () {
      await signUp(c, ALICE);
      token = await logIn(c, c.nodes[0], { username: 'alice', password: ALICE.password });
    });

    it('should revoke a token on every node', async function () {
      assert.equal((await c.nodes[1].request('/ip', { headers: bearer(token) })).status, 200);
      const out = await c.post(c.nodes[0], '/logout', '', { authorization: token });
      assert.equal(out.status, 200, out.text);
      assert.deepEqual(out.body, { message: 'logged out' });
      await c.onBoth((n) => n.sync.state.accounts.revoked.size === 1);
      const res = await c.nodes[1].request('/ip', { headers: bearer(token) });
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, REFUSED);
      const line = c.nodes[1].logLines().find((l) => l.message === 'jwt-auth refused a request');
      assert.equal(line?.reason, 'revoked');
      const again = await c.post(c.nodes[1], '/logout', '', bearer(token));
      assert.equal(again.status, 401);
      assert.deepEqual(again.body, REFUSED);
    });

    it('should keep a token revoked when another consumer logs out a token with its jti', async function () {
      const out = await c.post(c.nodes[0], '/logout', '', bearer(token));
      assert.equal(out.status, 200, out.text);
      const jti = String(decodePayload(token).jti);

      const eve = { username: 'eve', email: 'eve@example.com', password: ALICE.password };
      await signUp(c, eve);
      const jwt = (await storedConsumer('eve')).plugins as Record<string, Plugin>;
      const secret = String(jwt['jwt-auth']?.secret);
      const copycat = await new SignJWT({ key: 'eve@example.com', jti })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('10m')
        .sign(Buffer.from(secret));
      assert.equal((await c.post(c.nodes[1], '/logout', '', bearer(copycat))).status, 200);
      await c.onBoth((n) => n.sync.state.accounts.revoked.size === 2);
      for (const node of c.nodes) {
        assert.equal((await node.request('/ip', { headers: bearer(token) })).status, 401);
        assert.equal((await node.request('/ip', { headers: bearer(copycat) })).status, 401);
      }
    });

    it('should refuse a forged or missing token', async function () {
      assert.equal((await c.post(c.nodes[0], '/logout', '')).status, 401);
      const forged = `${token.slice(0, -4)}AAAA`;
      const res = await c.post(c.nodes[0], '/logout', '', bearer(forged));
      assert.equal(res.status, 401);
      assert.deepEqual(res.body, REFUSED);
    });

    it('should revoke every older token everywhere, and let a new login in', async function () {
      const second = await logIn(c, c.nodes[1], { username: 'alice', password: ALICE.password });
      const out = await c.post(c.nodes[1], '/logout', { everywhere: true }, bearer(token));
      assert.equal(out.status, 200, out.text);
      await c.onBoth((n) => n.sync.state.accounts.revokedBefore.has('alice'));
      assert.ok(await c.store.get(revokedBeforeKey('alice')));
      for (const node of c.nodes) {
        const res = await node.request('/ip', { headers: bearer(second) });
        assert.equal(res.status, 401);
      }
      const fresh = await logIn(c, c.nodes[0], { username: 'alice', password: ALICE.password });
      assert.equal((await c.nodes[1].request('/ip', { headers: bearer(fresh) })).status, 200);
    });

    it('should keep logging out everywhere after an admin shortens token lifetimes', async function () {
      const patched = await c.admin.request('PATCH', '/apisix/admin/consumers/alice', {
        plugins: { 'jwt-auth': { exp: 1 } },
      });
      assert.equal(patched.status, 200, patched.text);
      const out = await c.post(c.nodes[0], '/logout', { everywhere: true }, bearer(token));
      assert.equal(out.status, 200, out.text);
      await c.onBoth((n) => n.sync.state.accounts.revokedBefore.has('alice'));
      // Past the new one-second lifetime: the record must outlive it.
      await new Promise((r) => setTimeout(r, 2500));
      for (const node of c.nodes) {
        assert.equal((await node.request('/ip', { headers: bearer(token) })).status, 401);
      }
      assert.ok(await c.store.get(revokedBeforeKey('alice')));

      const deleted = await c.admin.request('DELETE', '/apisix/admin/consumers/alice');
      assert.equal(deleted.status, 200, deleted.text);
      assert.equal(await c.store.get(revokedBeforeKey('alice')), undefined);
      assert.equal((await c.store.range('/_tollgate/revoked/alice/')).kvs.length, 0);
    });
  });

  describe('bodies that are not UTF-8', function () {
    const postRaw = (node: TestNode, path: string, body: Buffer) =>
      node.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const invalid = (tail: number[]) =>
      Buffer.concat([Buffer.from('violet-harbour-'), Buffer.from(tail)]);

    it('should refuse a sign-up whose password is not UTF-8, creating nothing', async function () {
      const body = rawJson({
        username: 'mallory',
        email: 'mallory@example.com',
        password: invalid([0xff, 0xfe]),
      });
      const res = await postRaw(c.nodes[0], '/signup', body);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(res.body, NOT_UTF8);
      assert.equal(await c.store.get('/consumers/mallory'), undefined);
    });

    it('should not let invalid bytes log in as the replacement characters they used to become', async function () {
      // The password the old lossy decoding made of `violet-harbour-\xff\xfe`.
      const replaced = 'violet-harbour-\ufffd\ufffd';
      await signUp(c, { username: 'mallory', email: 'mallory@example.com', password: replaced });

      for (const node of c.nodes) {
        const body = rawJson({ username: 'mallory', password: invalid([0xfd, 0xfc]) });
        const login = await postRaw(node, '/login', body);
        assert.equal(login.status, 400, login.text);
        assert.deepEqual(login.body, NOT_UTF8, 'no token is issued');
      }
      // The real password, sent as valid UTF-8, still logs in.
      const ok = await c.post(c.nodes[1], '/login', { username: 'mallory', password: replaced });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(typeof ok.body.token, 'string');
    });
  });

  describe('secrecy', function () {
    it('should never show the password hash in Admin API answers or any log', async function () {
      await signUp(c, ALICE);
      await logIn(c, c.nodes[1], { username: 'alice', password: ALICE.password });
      await c.post(c.nodes[1], '/login', { username: 'alice', password: 'wrong-password' });
      const hash = await storedHash('alice');

      const answers = [
        await c.admin.request('GET', '/apisix/admin/consumers/alice'),
        await c.admin.request('GET', '/apisix/admin/consumers'),
        await c.admin.request('GET', '/apisix/admin/consumers/alice', undefined, {
          'x-api-key': VIEWER_KEY,
        }),
        await c.admin.request('PATCH', '/apisix/admin/consumers/alice', { desc: 'patched' }),
      ];
      for (const res of answers) {
        assert.equal(res.status, 200, res.text);
        assert.ok(!res.text.includes(hash) && !res.text.includes('scrypt$'), res.text);
      }
      assert.equal(await storedHash('alice'), hash, 'a PATCH keeps the hash');

      const logs = JSON.stringify([
        ...c.admin.logLines(),
        ...c.nodes[0].logLines(),
        ...c.nodes[1].logLines(),
      ]);
      for (const secret of [hash, ALICE.password, 'wrong-password', 'scrypt$']) {
        assert.ok(!logs.includes(secret), `logs must not contain ${secret.slice(0, 12)}`);
      }
    });

    it('should refuse a malformed password hash through the Admin API', async function () {
      const res = await c.admin.request('PUT', '/apisix/admin/consumers/carol', {
        plugins: { 'password-login': { password_hash: 'md5$abc' } },
      });
      assert.equal(res.status, 400);
      assert.match(res.body.error_msg, /password_hash/);
    });
  });
});
