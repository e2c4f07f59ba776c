import assert from 'node:assert/strict';

import { startAdmin } from '../helpers/admin.js';
import { adminOnEtcd } from '../helpers/admin-fixture.js';

const UPSTREAM = { type: 'roundrobin', nodes: { '127.0.0.1:1980': 1 } };

describe('Admin API resources', function () {
  const t = adminOnEtcd('crud');

  describe('PUT /{resource}/{id}', function () {
    it('should create with 201 and replace with 200, keeping create_time', async function () {
      const created = await t.admin.request('PUT', '/apisix/admin/upstreams/1', UPSTREAM);
      assert.equal(created.status, 201);
      assert.equal(created.body.key, `${t.store.prefix}/upstreams/1`);
      assert.equal(created.body.value.id, '1');
      assert.equal(typeof created.body.value.create_time, 'number');
      assert.equal(created.body.createdIndex, created.body.modifiedIndex);

      const replaced = await t.admin.request('PUT', '/apisix/admin/upstreams/1', {
        ...UPSTREAM,
        name: 'Mock API upstream',
      });
      assert.equal(replaced.status, 200);
      assert.equal(replaced.body.value.name, 'Mock API upstream');
      assert.equal(replaced.body.value.create_time, created.body.value.create_time);
      assert.equal(replaced.body.createdIndex, created.body.createdIndex);
      assert.ok(replaced.body.modifiedIndex > created.body.modifiedIndex);
    });

    it('should store the object as JSON at {prefix}/{resource}/{id}', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/r1', { uri: '/ip', upstream: UPSTREAM });
      const kv = await t.store.get('/routes/r1');
      assert.ok(kv);
      const value = JSON.parse(kv.value);
      assert.equal(value.uri, '/ip');
      assert.equal(value.id, 'r1');
      assert.equal(kv.modRevision > 0, true);
    });

    it('should refuse create_time and update_time in the body', async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/upstreams/1', {
        ...UPSTREAM,
        create_time: 1,
      });
      assert.equal(res.status, 400);
      assert.match(res.body.error_msg, /forbidden: create_time/);
    });

    it('should refuse a body id that differs from the path id', async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/upstreams/1', {
        ...UPSTREAM,
        id: '2',
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error_msg, 'wrong upstream id');
    });
  });

  describe('GET', function () {
    it('should answer 404 with APISIX message for a missing object', async function () {
      const res = await t.admin.request('GET', '/apisix/admin/routes/nope');
      assert.equal(res.status, 404);
      assert.equal(res.body.message, 'Key not found');
      assert.equal(res.body.error_code, 'OBJECT_NOT_FOUND');
    });

    it('should list as {total, list} and page with page and page_size', async function () {
      for (let i = 0; i < 12; i++) {
        const id = String(i).padStart(2, '0');
        await t.admin.request('PUT', `/apisix/admin/upstreams/u${id}`, UPSTREAM);
      }
      const all = await t.admin.request('GET', '/apisix/admin/upstreams');
      assert.equal(all.status, 200);
      assert.equal(all.body.total, 12);
      assert.deepEqual(
        all.body.list.map((o: { value: { id: string } }) => o.value.id).slice(0, 2),
        ['u00', 'u01'],
      );

      const page2 = await t.admin.request('GET', '/apisix/admin/upstreams?page=2&page_size=10');
      assert.equal(page2.body.total, 12);
      assert.equal(page2.body.list.length, 2);
      assert.equal(page2.body.list[0].value.id, 'u10');
    });

    it('should list an empty resource as total 0', async function () {
      const res = await t.admin.request('GET', '/apisix/admin/services');
      assert.deepEqual(res.body, { total: 0, list: [] });
    });
  });

  describe('POST /{resource}', function () {
    it('should generate unique ids that sort in creation order, even concurrently', async function () {
      const first = await t.admin.request('POST', '/apisix/admin/upstreams', UPSTREAM);
      assert.equal(first.status, 201);
      assert.match(first.body.value.id, /^\d{20}$/);

      const replies = await Promise.all(
        Array.from({ length: 20 }, () =>
          t.admin.request('POST', '/apisix/admin/upstreams', UPSTREAM),
        ),
      );
      const ids = replies.map((r) => r.body.value.id as string);
      assert.equal(new Set(ids).size, 20);
      assert.ok(ids.every((id) => id > first.body.value.id));

      const list = await t.admin.request('GET', '/apisix/admin/upstreams');
      assert.equal(list.body.total, 21);
    });

    it('should refuse an id in the body', async function () {
      const res = await t.admin.request('POST', '/apisix/admin/upstreams', {
        ...UPSTREAM,
        id: 'x',
      });
      assert.equal(res.status, 400);
      assert.match(res.body.error_msg, /do not need it/);
    });

    it('should answer 405 for consumers, which are named by username', async function () {
      const res = await t.admin.request('POST', '/apisix/admin/consumers', { username: 'a' });
      assert.equal(res.status, 405);
    });
  });

  describe('PATCH', function () {
    it('should merge objects, remove null fields and replace arrays whole', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', {
        uri: '/a',
        methods: ['GET', 'POST'],
        desc: 'old',
        labels: { team: 'a', env: 'dev' },
        upstream: UPSTREAM,
      });
      const res = await t.admin.request('PATCH', '/apisix/admin/routes/1', {
        methods: ['PUT'],
        desc: null,
        labels: { env: 'prod' },
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.value.methods, ['PUT']);
      assert.equal(res.body.value.desc, undefined);
      assert.deepEqual(res.body.value.labels, { team: 'a', env: 'prod' });
      assert.equal(res.body.value.uri, '/a');
    });

    it('should replace one field through a sub path', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: UPSTREAM });
      const res = await t.admin.request('PATCH', '/apisix/admin/routes/1/upstream/nodes', {
        '127.0.0.1:1981': 2,
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.value.upstream.nodes, { '127.0.0.1:1981': 2 });

      const uri = await t.admin.request('PATCH', '/apisix/admin/routes/1/uri', '"/b"');
      assert.equal(uri.body.value.uri, '/b');
    });

    it('should validate the merged result and keep the old value on failure', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: UPSTREAM });
      const res = await t.admin.request('PATCH', '/apisix/admin/routes/1', { uri: null });
      assert.equal(res.status, 400);
      assert.match(res.body.error_msg, /property "uri" is required/);
      const kept = await t.admin.request('GET', '/apisix/admin/routes/1');
      assert.equal(kept.body.value.uri, '/a');
    });

    it('should answer 404 for a missing object', async function () {
      const res = await t.admin.request('PATCH', '/apisix/admin/routes/none', { desc: 'x' });
      assert.equal(res.status, 404);
    });

    it('should keep every one of 50 concurrent PATCHes of different fields', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: UPSTREAM });
      const second = await startAdmin(t.store);
      try {
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            (i % 2 === 0 ? t.admin : second).request('PATCH', '/apisix/admin/routes/1', {
              labels: { [`k${i}`]: `v${i}` },
            }),
          ),
        );
        assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
      } finally {
        await second.close();
      }
      const res = await t.admin.request('GET', '/apisix/admin/routes/1');
      assert.equal(Object.keys(res.body.value.labels).length, 50);
    });
  });

  describe('DELETE', function () {
    it('should answer {deleted, key} and remove the object', async function () {
      await t.admin.request('PUT', '/apisix/admin/upstreams/1', UPSTREAM);
      const res = await t.admin.request('DELETE', '/apisix/admin/upstreams/1');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { deleted: '1', key: `${t.store.prefix}/upstreams/1` });
      assert.equal(await t.store.get('/upstreams/1'), undefined);
    });

    it('should refuse to delete an upstream a route uses, unless forced', async function () {
      await t.admin.request('PUT', '/apisix/admin/upstreams/1', UPSTREAM);
      await t.admin.request('PUT', '/apisix/admin/routes/r9', { uri: '/x', upstream_id: 1 });

      const refused = await t.admin.request('DELETE', '/apisix/admin/upstreams/1');
      assert.equal(refused.status, 400);
      assert.match(refused.body.error_msg, /route \[r9\] is still using it/);
      assert.ok(await t.store.get('/upstreams/1'));

      const forced = await t.admin.request('DELETE', '/apisix/admin/upstreams/1?force=true');
      assert.equal(forced.status, 200);
    });

    it('should refuse to delete a plugin config or service in use', async function () {
      await t.admin.request('PUT', '/apisix/admin/plugin_configs/1', { plugins: {} });
      await t.admin.request('PUT', '/apisix/admin/services/s1', { upstream: UPSTREAM });
      await t.admin.request('PUT', '/apisix/admin/routes/1', {
        uri: '/x',
        plugin_config_id: '1',
        service_id: 's1',
      });
      const pc = await t.admin.request('DELETE', '/apisix/admin/plugin_configs/1');
      assert.equal(pc.status, 400);
      const svc = await t.admin.request('DELETE', '/apisix/admin/services/s1');
      assert.equal(svc.status, 400);
      assert.match(svc.body.error_msg, /service, route \[1\]/);
    });

    it('should answer 404 for a missing object', async function () {
      const res = await t.admin.request('DELETE', '/apisix/admin/routes/none');
      assert.equal(res.status, 404);
    });
  });

  describe('consumers', function () {
    it('should create a consumer with PUT on the collection, named by username', async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/consumers', {
        username: 'appsmithuser',
        plugins: { 'jwt-auth': { key: 'user@example.com', secret: 'my-secret-key' } },
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.key, `${t.store.prefix}/consumers/appsmithuser`);
      const got = await t.admin.request('GET', '/apisix/admin/consumers/appsmithuser');
      assert.equal(got.body.value.username, 'appsmithuser');
      assert.equal(got.body.value.plugins['jwt-auth'].algorithm, 'HS256');
      assert.equal(got.body.value.plugins['jwt-auth'].exp, 86400);
    });

    it('should generate a secret once for an HMAC consumer written without one', async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/consumers/jack', {
        plugins: { 'jwt-auth': { key: 'jack-key' } },
      });
      assert.equal(res.status, 201);
      const secret = res.body.value.plugins['jwt-auth'].secret as string;
      assert.match(secret, /^[0-9a-f]{64}$/);
      const patched = await t.admin.request('PATCH', '/apisix/admin/consumers/jack', { desc: 'x' });
      assert.equal(patched.body.value.plugins['jwt-auth'].secret, secret);
    });

    it('should refuse a username that differs from the path', async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/consumers/jack', {
        username: 'jill',
      });
      assert.equal(res.status, 400);
    });
  });

  describe('plugins', function () {
    it('should list the known plugins', async function () {
      const res = await t.admin.request('GET', '/apisix/admin/plugins/list');
      assert.equal(res.status, 200);
      assert.ok(res.body.includes('jwt-auth'));
      assert.ok(res.body.includes('public-api'));
    });

    it('should serve each plugin schema and the consumer schema', async function () {
      const route = await t.admin.request('GET', '/apisix/admin/plugins/jwt-auth');
      assert.equal(route.body.properties.header.default, 'authorization');
      const consumer = await t.admin.request(
        'GET',
        '/apisix/admin/plugins/jwt-auth?schema_type=consumer',
      );
      assert.deepEqual(consumer.body.required, ['key']);
      const all = await t.admin.request('GET', '/apisix/admin/plugins?all=true');
      assert.equal(all.body['jwt-auth'].priority, 2510);
      const missing = await t.admin.request('GET', '/apisix/admin/plugins/no-such-plugin');
      assert.equal(missing.status, 404);
    });
  });
});
