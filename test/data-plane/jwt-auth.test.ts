import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { SignJWT } from 'jose';

import { Keyring } from '../../shared/secrets.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startAdmin } from '../helpers/admin.js';
import type { TestAdmin } from '../helpers/admin.js';
import { eventually, startNode } from '../helpers/data-plane.js';
import type { TestNode } from '../helpers/data-plane.js';
import { FIXTURE_PLUGIN, registerFixturePlugin } from '../helpers/fixture-plugin.js';
import { startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

const SECRET = 'my-secret-key-for-tests';
const now = () => Math.floor(Date.now() / 1000);

async function hs(
  claims: Record<string, unknown>,
  secret = SECRET,
  alg = 'HS256',
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(Buffer.from(secret));
}

describe('jwt-auth', function () {
  let etcd: TestEtcd;
  let store: ConfigStore;
  let admin: TestAdmin;
  let node: TestNode;
  let upstream: TestUpstream;
  const k1 = { id: 'k1', key: randomBytes(32) };
  const keyring = new Keyring([k1]);

  before(async function () {
    registerFixturePlugin();
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    store = createEtcdStore({ endpoints: etcd.endpoints, prefix: uniquePrefix('jwt') });
    admin = await startAdmin(store, { keyring });
    node = await startNode(store, {}, keyring);
    await node.sync.whenReady();
    upstream = await startUpstream('a');
    await put('/consumers/jack', { plugins: { 'jwt-auth': { key: 'jack-key', secret: SECRET } } });
    await put('/routes/1', route({}));
  });
  afterEach(async function () {
    await node.close(0);
    await admin.close();
    await upstream.close();
    await store.close();
  });

  function route(jwtConf: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    return {
      uri: '/ip',
      plugins: { 'jwt-auth': jwtConf, ...extra },
      upstream: { nodes: { [upstream.node]: 1 } },
    };
  }

  async function put(path: string, body: unknown): Promise<void> {
    const res = await admin.request('PUT', `/apisix/admin${path}`, body);
    assert.ok(res.status < 300, `${path}: ${res.text}`);
    await eventually(async () => node.sync.status().revision >= res.body.modifiedIndex);
  }

  async function refused(headers: Record<string, string>, message: string, path = '/ip') {
    const res = await node.request(path, { headers });
    assert.equal(res.status, 401, res.text);
    assert.deepEqual(res.body, { message });
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="jwt"');
  }

  describe('where the token comes from', function () {
    it('should take it from the header, with or without Bearer', async function () {
      const token = await hs({ key: 'jack-key' });
      for (const value of [token, `Bearer ${token}`, `bearer ${token}`]) {
        const res = await node.request('/ip', { headers: { authorization: value } });
        assert.equal(res.status, 200, value);
        assert.equal(res.body.headers['x-consumer-username'], 'jack');
      }
    });

    it('should take it from the query argument, then the cookie', async function () {
      const token = await hs({ key: 'jack-key' });
      assert.equal((await node.request(`/ip?jwt=${token}`)).status, 200);
      assert.equal(
        (await node.request('/ip', { headers: { cookie: `a=1; jwt=${token}` } })).status,
        200,
      );
      const headerWins = await node.request(`/ip?jwt=${token}`, {
        headers: { authorization: 'x.y.z' },
      });
      assert.equal(headerWins.status, 401);
    });

    it('should use the configured header, query and cookie names', async function () {
      await put('/routes/1', route({ header: 'x-token', query: 'tk', cookie: 'session' }));
      const token = await hs({ key: 'jack-key' });
      assert.equal((await node.request('/ip', { headers: { 'x-token': token } })).status, 200);
      assert.equal((await node.request(`/ip?tk=${token}`)).status, 200);
      assert.equal(
        (await node.request('/ip', { headers: { cookie: `session=${token}` } })).status,
        200,
      );
      assert.equal((await node.request('/ip', { headers: { authorization: token } })).status, 401);
    });
  });

  describe('failures', function () {
    it('should answer APISIX messages for each kind of bad token', async function () {
      await refused({}, 'Missing JWT token in request');
      await refused({ authorization: 'not-a-token' }, 'JWT token invalid');
      await refused({ authorization: await hs({ sub: 'x' }) }, 'missing user key in JWT token');
      await refused(
        { authorization: await hs({ key: 'nobody' }) },
        'Invalid user key in JWT token',
      );
      await refused(
        { authorization: await hs({ key: 'jack-key' }, 'wrong-secret') },
        'failed to verify jwt',
      );
    });

    it('should refuse alg none and an algorithm other than the consumer one', async function () {
      const payload = Buffer.from(JSON.stringify({ key: 'jack-key' })).toString('base64url');
      const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
      await refused({ authorization: none }, 'failed to verify jwt');
      const hs512 = await hs({ key: 'jack-key' }, SECRET, 'HS512');
      await refused({ authorization: hs512 }, 'failed to verify jwt');
    });

    it('should refuse an HMAC token signed with an RS256 consumer public key', async function () {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      await put('/consumers/rsa', {
        plugins: { 'jwt-auth': { key: 'rsa-key', algorithm: 'RS256', public_key: pem } },
      });
      const forged = await hs({ key: 'rsa-key' }, pem);
      await refused({ authorization: forged }, 'failed to verify jwt');
    });

    it('should refuse expired and not-yet-valid tokens, within the grace period', async function () {
      await refused(
        { authorization: await hs({ key: 'jack-key', exp: now() - 10 }) },
        'failed to verify jwt',
      );
      await refused(
        { authorization: await hs({ key: 'jack-key', nbf: now() + 100 }) },
        'failed to verify jwt',
      );
      await put('/consumers/jack', {
        plugins: { 'jwt-auth': { key: 'jack-key', secret: SECRET, lifetime_grace_period: 60 } },
      });
      const late = await node.request('/ip', {
        headers: { authorization: await hs({ key: 'jack-key', exp: now() - 10 }) },
      });
      assert.equal(late.status, 200);
    });

    it('should require the claims listed in claims_to_verify', async function () {
      await put('/routes/1', route({ claims_to_verify: ['exp'] }));
      await refused({ authorization: await hs({ key: 'jack-key' }) }, 'failed to verify jwt');
      const ok = await node.request('/ip', {
        headers: { authorization: await hs({ key: 'jack-key', exp: now() + 60 }) },
      });
      assert.equal(ok.status, 200);
    });

    it('should refuse tokens with critical extensions or a second spelling of the signature', async function () {
      const crit = await new SignJWT({ key: 'jack-key' })
        .setProtectedHeader({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1 } as never)
        .sign(Buffer.from(SECRET))
        .catch(() => undefined);
      if (crit !== undefined) {
        await refused({ authorization: crit }, 'JWT token invalid');
      }
      const handmade = `${Buffer.from('{"alg":"HS256","crit":["b64"]}').toString('base64url')}.${Buffer.from('{"key":"jack-key"}').toString('base64url')}.AAAA`;
      await refused({ authorization: handmade }, 'JWT token invalid');

      const token = await hs({ key: 'jack-key' });
      const sig = token.split('.')[2] ?? '';
      // HS256 signatures are 32 bytes: 43 characters whose last one carries 2 unused bits.
      const last = sig.at(-1) ?? 'A';
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const twin = alphabet[alphabet.indexOf(last) ^ 1] ?? last;
      const respelled = `${token.slice(0, -1)}${twin}`;
      assert.equal(
        Buffer.from(respelled.split('.')[2] ?? '', 'base64url').equals(
          Buffer.from(sig, 'base64url'),
        ),
        true,
      );
      await refused({ authorization: respelled }, 'JWT token invalid');
    });

    it('should put the configured realm in WWW-Authenticate', async function () {
      await put('/routes/1', route({ realm: 'tollgate' }));
      const res = await node.request('/ip');
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="tollgate"');
    });

    it('should log why a token was refused without logging the token', async function () {
      const token = await hs({ key: 'jack-key' }, 'wrong-secret');
      await node.request('/ip', { headers: { authorization: token } });
      const line = node.logLines().find((l) => l.message === 'jwt-auth refused a request');
      assert.equal(line?.reason, 'bad signature');
      assert.ok(!JSON.stringify(node.logLines()).includes(token));
      assert.ok(!JSON.stringify(node.logLines()).includes(SECRET));
    });
  });

  describe('asymmetric algorithms', function () {
    const cases: [string, () => { publicKey: KeyObject; privateKey: KeyObject }][] = [
      ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
      ['PS384', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
      ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
      ['ES512', () => generateKeyPairSync('ec', { namedCurve: 'P-521' })],
      ['EdDSA', () => generateKeyPairSync('ed25519')],
    ];
    for (const [alg, generate] of cases) {
      it(`should verify ${alg} tokens with the consumer public key`, async function () {
        const { publicKey, privateKey } = generate();
        const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
        await put('/consumers/asym', {
          plugins: { 'jwt-auth': { key: `${alg}-key`, algorithm: alg, public_key: pem } },
        });
        const token = await new SignJWT({ key: `${alg}-key` })
          .setProtectedHeader({ alg })
          .sign(privateKey);
        const res = await node.request('/ip', { headers: { authorization: token } });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.headers['x-consumer-username'], 'asym');
      });
    }
  });

  describe('route options', function () {
    it('should hide the credential from the upstream, wherever it came from', async function () {
      await put('/routes/1', route({ hide_credentials: true }));
      const token = await hs({ key: 'jack-key' });
      const byHeader = await node.request('/ip', { headers: { authorization: token } });
      assert.equal(byHeader.body.headers.authorization, undefined);
      const byQuery = await node.request(`/ip?a=1&jwt=${token}&c&d=%7e`);
      assert.equal(byQuery.body.url, '/ip?a=1&c&d=%7e', 'the other arguments pass as sent');
      const byCookie = await node.request('/ip', { headers: { cookie: `a=1; jwt=${token}` } });
      assert.equal(byCookie.body.headers.cookie, 'a=1');
    });

    it('should keep the credential when hide_credentials is off', async function () {
      const token = await hs({ key: 'jack-key' });
      const res = await node.request('/ip', { headers: { authorization: token } });
      assert.equal(res.body.headers.authorization, token);
    });

    it('should find the consumer by a custom key claim', async function () {
      await put('/routes/1', route({ key_claim_name: 'iss' }));
      assert.equal(
        (await node.request('/ip', { headers: { authorization: await hs({ iss: 'jack-key' }) } }))
          .status,
        200,
      );
      await refused(
        { authorization: await hs({ key: 'jack-key' }) },
        'missing user key in JWT token',
      );
    });

    it('should store the verified claims for later plugins with store_in_ctx', async function () {
      await put('/routes/1', route({ store_in_ctx: true }, { [FIXTURE_PLUGIN]: { tag: 't' } }));
      const res = await node.request('/ip', {
        headers: { authorization: await hs({ key: 'jack-key', role: 'r' }) },
      });
      assert.equal(JSON.parse(res.body.headers['x-jwt-claims'] as string).role, 'r');
    });

    it('should let an anonymous consumer through when there is no valid token', async function () {
      await put('/consumers/guest', { plugins: {} });
      await put('/routes/1', route({ anonymous_consumer: 'guest' }));
      const res = await node.request('/ip');
      assert.equal(res.status, 200);
      assert.equal(res.body.headers['x-consumer-username'], 'guest');
    });

    it("should apply the identified consumer's own plugins", async function () {
      await put('/consumers/jack', {
        plugins: {
          'jwt-auth': { key: 'jack-key', secret: SECRET },
          [FIXTURE_PLUGIN]: { tag: 'jack' },
        },
      });
      await put('/routes/1', route({}, { [FIXTURE_PLUGIN]: { tag: 'route' } }));
      const res = await node.request('/ip', {
        headers: { authorization: await hs({ key: 'jack-key' }) },
      });
      assert.equal(res.body.headers['x-tag'], 'jack');
    });

    it('should never pass a client-sent X-Consumer-Username upstream', async function () {
      await put('/routes/open', { uri: '/open', upstream: { nodes: { [upstream.node]: 1 } } });
      const res = await node.request('/open', { headers: { 'x-consumer-username': 'admin' } });
      assert.equal(res.body.headers['x-consumer-username'], undefined);
    });
  });

  describe('consumer changes', function () {
    it('should refuse old tokens once the secret, the key or the consumer changes', async function () {
      const token = await hs({ key: 'jack-key' });
      assert.equal((await node.request('/ip', { headers: { authorization: token } })).status, 200);

      await put('/consumers/jack', {
        plugins: { 'jwt-auth': { key: 'jack-key', secret: 'rotated-secret' } },
      });
      await refused({ authorization: token }, 'failed to verify jwt');
      await put('/consumers/jack', {
        plugins: { 'jwt-auth': { key: 'jack-new', secret: SECRET } },
      });
      await refused({ authorization: token }, 'Invalid user key in JWT token');

      const fresh = await hs({ key: 'jack-new' });
      assert.equal((await node.request('/ip', { headers: { authorization: fresh } })).status, 200);
      const res = await admin.request('DELETE', '/apisix/admin/consumers/jack');
      assert.equal(res.status, 200);
      await eventually(
        async () =>
          (await node.request('/ip', { headers: { authorization: fresh } })).status === 401,
      );
    });

    it('should refuse a public key that is not one, when the consumer is written', async function () {
      const res = await admin.request('PUT', '/apisix/admin/consumers/bad', {
        plugins: { 'jwt-auth': { key: 'bad-key', algorithm: 'RS256', public_key: 'x' } },
      });
      assert.equal(res.status, 400);
      assert.match(res.body.error_msg, /"public_key" is not a PEM public key/);
    });

    it('should let only one of several concurrent writers take a key', async function () {
      const replies = await Promise.all(
        [1, 2, 3, 4, 5].map((i) =>
          admin.request('PUT', `/apisix/admin/consumers/race${i}`, {
            plugins: { 'jwt-auth': { key: 'race-key', secret: `secret-${i}` } },
          }),
        ),
      );
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 409, 409, 409, 409]);
    });

    it('should refuse a second consumer with the same key', async function () {
      const res = await admin.request('PUT', '/apisix/admin/consumers/jill', {
        plugins: { 'jwt-auth': { key: 'jack-key', secret: 'other' } },
      });
      assert.equal(res.status, 409);
      assert.match(res.body.error_msg, /already used by consumer \[jack\]/);
    });
  });

  describe('secrets at rest', function () {
    it('should store the secret encrypted and show it to the admin in clear', async function () {
      const raw = await store.get('/consumers/jack');
      assert.ok(raw);
      assert.ok(!raw.value.includes(SECRET));
      assert.match(JSON.parse(raw.value).plugins['jwt-auth'].secret, /^\$tg1\$k1\$/);
      const res = await admin.request('GET', '/apisix/admin/consumers/jack');
      assert.equal(res.body.value.plugins['jwt-auth'].secret, SECRET);
    });

    it('should read consumers written before a key rotation', async function () {
      const rotated = new Keyring([{ id: 'k2', key: randomBytes(32) }, k1]);
      const admin2 = await startAdmin(store, { keyring: rotated });
      const node2 = await startNode(store, {}, rotated);
      try {
        await node2.sync.whenReady();
        const token = await hs({ key: 'jack-key' });
        assert.equal(
          (await node2.request('/ip', { headers: { authorization: token } })).status,
          200,
        );
        const res = await admin2.request('PATCH', '/apisix/admin/consumers/jack', {
          desc: 'rotated',
        });
        assert.equal(res.status, 200);
        const raw = await store.get('/consumers/jack');
        assert.match(JSON.parse(raw?.value ?? '{}').plugins['jwt-auth'].secret, /^\$tg1\$k2\$/);
      } finally {
        await node2.close(0);
        await admin2.close();
      }
    });

    it('should never accept a token signed with an empty key', async function () {
      // Written by another tool, so no secret was generated for it.
      const { revision } = await store.put(
        '/consumers/nosecret',
        JSON.stringify({ username: 'nosecret', plugins: { 'jwt-auth': { key: 'nosecret' } } }),
      );
      await eventually(async () => node.sync.status().revision >= revision);
      const empty = await new SignJWT({ key: 'nosecret' })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new Uint8Array(0));
      await refused({ authorization: empty }, 'Invalid user key in JWT token');
      assert.ok(
        node.logLines().some((l) => l.store_key === '/consumers/nosecret' && l.level === 'error'),
        'the consumer is skipped with an error naming its key',
      );

      const res = await admin.request('PUT', '/apisix/admin/consumers/b64', {
        plugins: { 'jwt-auth': { key: 'b64', secret: 'a', base64_secret: true } },
      });
      assert.equal(res.status, 400);
      assert.match(res.body.error_msg, /"secret" must be non-empty base64/);
    });

    it('should skip a consumer it cannot decrypt, with an error naming its key', async function () {
      const stranger = await startNode(
        store,
        {},
        new Keyring([{ id: 'other', key: randomBytes(32) }]),
      );
      try {
        await stranger.sync.whenReady();
        const token = await hs({ key: 'jack-key' });
        const res = await stranger.request('/ip', { headers: { authorization: token } });
        assert.equal(res.status, 401);
        assert.ok(stranger.logLines().some((l) => l.store_key === '/consumers/jack'));
      } finally {
        await stranger.close(0);
      }
    });
  });

  describe('the sign API behind public-api', function () {
    beforeEach(async function () {
      await put('/routes/login', {
        uri: '/login',
        plugins: { 'public-api': { uri: '/apisix/plugin/jwt/sign' } },
      });
    });

    it('should sign a token for a known key that the protected route accepts', async function () {
      const res = await node.request('/login?key=jack-key');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      const claims = JSON.parse(Buffer.from(res.text.split('.')[1] ?? '', 'base64url').toString());
      assert.equal(claims.key, 'jack-key');
      assert.ok(Math.abs(claims.exp - (now() + 86400)) <= 2);
      const ok = await node.request('/ip', { headers: { authorization: res.text } });
      assert.equal(ok.status, 200);
    });

    it('should answer 400 without key and 404 for an unknown key', async function () {
      assert.equal((await node.request('/login')).status, 400);
      assert.equal((await node.request('/login?key=nobody')).status, 404);
      assert.equal((await node.request('/login?key=jack-key&payload=[1]')).status, 400);
    });

    it('should add payload claims but never let them set key or exp', async function () {
      const payload = encodeURIComponent(JSON.stringify({ role: 'reader', key: 'other', exp: 1 }));
      const res = await node.request(`/login?key=jack-key&payload=${payload}`);
      const claims = JSON.parse(Buffer.from(res.text.split('.')[1] ?? '', 'base64url').toString());
      assert.equal(claims.role, 'reader');
      assert.equal(claims.key, 'jack-key');
      assert.ok(claims.exp > now());
    });

    it('should sign with the consumer exp and asymmetric private key', async function () {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await put('/consumers/ec', {
        plugins: {
          'jwt-auth': {
            key: 'ec-key',
            algorithm: 'ES256',
            exp: 60,
            public_key: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
            private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          },
        },
      });
      const res = await node.request('/login?key=ec-key');
      assert.equal(res.status, 200, res.text);
      const claims = JSON.parse(Buffer.from(res.text.split('.')[1] ?? '', 'base64url').toString());
      assert.ok(Math.abs(claims.exp - (now() + 60)) <= 2);
      assert.equal(
        (await node.request('/ip', { headers: { authorization: res.text } })).status,
        200,
      );
    });

    it('should not exist without a public-api route', async function () {
      const res = await node.request('/apisix/plugin/jwt/sign?key=jack-key');
      assert.equal(res.status, 404);
      assert.deepEqual(res.body, { error_msg: '404 Route Not Found' });
    });

    it('should serve the API at the route uri when public-api has no uri', async function () {
      await put('/routes/direct', {
        uri: '/apisix/plugin/jwt/sign',
        plugins: { 'public-api': {} },
      });
      assert.equal((await node.request('/apisix/plugin/jwt/sign?key=jack-key')).status, 200);
    });
  });
});
