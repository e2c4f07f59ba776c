import assert from 'node:assert/strict';

import { ADMIN_KEY, VIEWER_KEY, startAdmin } from '../helpers/admin.js';
import { adminOnEtcd } from '../helpers/admin-fixture.js';
import { requireEtcdControl } from '../helpers/etcd-control.js';

const ROUTE = { uri: '/a', upstream: { nodes: { '127.0.0.1:1980': 1 } } };

describe('Admin API access and input handling', function () {
  const t = adminOnEtcd('access', { timeoutMs: 1500 });

  describe('X-API-KEY', function () {
    it('should answer 401 without a key and with a wrong key, alike', async function () {
      const none = await t.admin.request('GET', '/apisix/admin/routes', undefined, {
        'x-api-key': '',
      });
      const wrong = await t.admin.request('GET', '/apisix/admin/routes', undefined, {
        'x-api-key': `${ADMIN_KEY}x`,
      });
      assert.equal(none.status, 401);
      assert.equal(wrong.status, 401);
      assert.deepEqual(none.body, wrong.body);
      assert.equal(none.body.error_msg, 'failed to check token');
    });

    it('should let a viewer key read but not write', async function () {
      const viewer = { 'x-api-key': VIEWER_KEY };
      const read = await t.admin.request('GET', '/apisix/admin/routes', undefined, viewer);
      assert.equal(read.status, 200);
      const write = await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE, viewer);
      assert.equal(write.status, 401, 'APISIX answers a viewer write with 401');
      assert.equal(write.body.error_code, 'ADMIN_ROLE_FORBIDDEN');
      assert.equal(await t.store.get('/routes/1'), undefined);
    });

    it("should accept APISIX's api_key query argument and x_api_key cookie", async function () {
      const noHeader = { 'x-api-key': '' };
      const query = await t.admin.request(
        'GET',
        `/apisix/admin/routes?api_key=${ADMIN_KEY}`,
        undefined,
        noHeader,
      );
      assert.equal(query.status, 200);
      const cookie = await t.admin.request('GET', '/apisix/admin/routes', undefined, {
        ...noHeader,
        cookie: `x_api_key=${ADMIN_KEY}`,
      });
      assert.equal(cookie.status, 200);
    });

    it('should mask consumer secrets from viewer keys', async function () {
      await t.admin.request('PUT', '/apisix/admin/consumers/jack', {
        plugins: { 'jwt-auth': { key: 'jack-key', secret: 'viewer-must-not-see' } },
      });
      const viewer = { 'x-api-key': VIEWER_KEY };
      const one = await t.admin.request('GET', '/apisix/admin/consumers/jack', undefined, viewer);
      assert.equal(one.body.value.plugins['jwt-auth'].secret, '[redacted]');
      const list = await t.admin.request('GET', '/apisix/admin/consumers', undefined, viewer);
      assert.ok(!list.text.includes('viewer-must-not-see'));
      const asAdmin = await t.admin.request('GET', '/apisix/admin/consumers/jack');
      assert.equal(asAdmin.body.value.plugins['jwt-auth'].secret, 'viewer-must-not-see');
    });

    it('should answer 403 to a client outside the allow-list', async function () {
      const closed = await startAdmin(t.store, { allow: ['10.0.0.0/8'] });
      try {
        const res = await closed.request('GET', '/apisix/admin/routes');
        assert.equal(res.status, 403);
        assert.equal(res.body.error_code, 'ADMIN_ADDRESS_FORBIDDEN');
      } finally {
        await closed.close();
      }
    });
  });

  describe('bad input', function () {
    async function expectNothingWritten(fn: () => Promise<void>) {
      const before = await t.store.revision();
      await fn();
      assert.equal(await t.store.revision(), before);
    }

    it('should answer 400 for invalid JSON', async function () {
      await expectNothingWritten(async () => {
        const res = await t.admin.request('PUT', '/apisix/admin/routes/1', '{"uri": "/a",');
        assert.equal(res.status, 400);
        assert.match(res.body.error_msg, /^invalid JSON/);
      });
    });

    it('should answer 400 for duplicate keys and deep nesting', async function () {
      const dup = await t.admin.request('PUT', '/apisix/admin/routes/1', '{"uri":"/a","uri":"/b"}');
      assert.equal(dup.status, 400);
      const deep = await t.admin.request(
        'PUT',
        '/apisix/admin/routes/1',
        '['.repeat(5000) + ']'.repeat(5000),
      );
      assert.equal(deep.status, 400);
    });

    it('should refuse __proto__ keys, which could smuggle fields past validation', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE);
      await expectNothingWritten(async () => {
        const res = await t.admin.request(
          'PATCH',
          '/apisix/admin/routes/1',
          '{"uri":null,"__proto__":{"uri":"/y"}}',
        );
        assert.equal(res.status, 400);
        assert.match(res.body.error_msg, /__proto__/);
      });
      assert.equal((await t.admin.request('GET', '/apisix/admin/routes/1')).body.value.uri, '/a');
    });

    it('should refuse numbers beyond the range of a double instead of storing null', async function () {
      await expectNothingWritten(async () => {
        const res = await t.admin.request(
          'PUT',
          '/apisix/admin/routes/1',
          '{"uri":"/a","priority":1e400,"upstream":{"nodes":{"127.0.0.1:1":1}}}',
        );
        assert.equal(res.status, 400);
        assert.match(res.body.error_msg, /"priority" holds 1e400/);
      });
    });

    it('should answer 400 for a missing body', async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/routes/1');
      assert.equal(res.status, 400);
      assert.equal(res.body.error_msg, 'missing configurations');
    });

    it('should answer 415 for a content type that cannot carry JSON', async function () {
      await expectNothingWritten(async () => {
        const res = await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE, {
          'content-type': 'application/xml',
        });
        assert.equal(res.status, 415);
      });
    });

    it("should accept curl's default form content type, as APISIX does", async function () {
      const res = await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE, {
        'content-type': 'application/x-www-form-urlencoded',
      });
      assert.equal(res.status, 201);
    });

    it('should answer 413 for an oversized body', async function () {
      const small = await startAdmin(t.store, { maxBodyBytes: 2048 });
      try {
        const big = { ...ROUTE, desc: 'x'.repeat(4096) };
        const res = await small.request('PUT', '/apisix/admin/routes/1', big);
        assert.equal(res.status, 413);
        assert.equal(await t.store.get('/routes/1'), undefined);
      } finally {
        await small.close();
      }
    });

    it('should answer 413 in JSON for a chunked body over the limit', async function () {
      const small = await startAdmin(t.store, { maxBodyBytes: 2048 });
      try {
        const { request } = await import('node:http');
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(`${small.url}/apisix/admin/routes/1`, {
            method: 'PUT',
            headers: { 'x-api-key': ADMIN_KEY, 'transfer-encoding': 'chunked' },
          });
          req.on('response', (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          for (let i = 0; i < 4; i++) {
            req.write('x'.repeat(1024));
          }
          req.end();
        });
        assert.equal(answer.status, 413);
        assert.equal(JSON.parse(answer.body).error_code, 'BODY_TOO_LARGE');
        const logged = small.logLines().find((l) => l.message === 'admin request');
        assert.equal(logged?.status, 413);
      } finally {
        await small.close();
      }
    });

    it('should refuse compressed bodies and charsets other than UTF-8 with 415', async function () {
      const gz = await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE, {
        'content-encoding': 'gzip',
      });
      assert.equal(gz.status, 415);
      const utf16 = await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE, {
        'content-type': 'application/json; charset=utf-16',
      });
      assert.equal(utf16.status, 415);
    });

    it('should check page and page_size strictly and filter uri by value', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE);
      for (const q of ['page=0x1', 'page=0', 'page=1e3', 'page_size=1', 'page_size=501']) {
        const res = await t.admin.request('GET', `/apisix/admin/routes?${q}`);
        assert.equal(res.status, 400, q);
      }
      const sizeOnly = await t.admin.request('GET', '/apisix/admin/routes?page_size=10');
      assert.equal(sizeOnly.body.list.length, 1);
      const quote = await t.admin.request('GET', '/apisix/admin/routes?uri=%22');
      assert.equal(quote.body.total, 0);
      const byUri = await t.admin.request('GET', '/apisix/admin/routes?uri=/a');
      assert.equal(byUri.body.total, 1);
    });

    it('should answer HEAD like GET, without a body', async function () {
      await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE);
      const res = await t.admin.request('HEAD', '/apisix/admin/routes/1');
      assert.equal(res.status, 200);
      assert.equal(res.text, '');
    });

    it('should answer 404 for an unknown resource and 405 for an unknown method', async function () {
      const unknown = await t.admin.request('GET', '/apisix/admin/widgets');
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.error_msg, /unsupported resource type: widgets/);
      const method = await t.admin.request('DELETE', '/apisix/admin/routes');
      assert.equal(method.status, 405);
      const sub = await t.admin.request('PUT', '/apisix/admin/routes/1/uri', '"/x"');
      assert.equal(sub.status, 405);
    });
  });

  describe('logging', function () {
    it('should log one JSON line per request with key name, never the key or a secret', async function () {
      await t.admin.request('PUT', '/apisix/admin/consumers/jack', {
        plugins: { 'jwt-auth': { key: 'jack@example.com', secret: 'super-secret-value' } },
      });
      await t.admin.request('GET', '/apisix/admin/consumers/jack');

      const lines = t.admin.logLines().filter((l) => l.message === 'admin request');
      assert.equal(lines.length, 2);
      assert.deepEqual(
        {
          method: lines[0]?.method,
          path: lines[0]?.path,
          status: lines[0]?.status,
          key: lines[0]?.key_name,
        },
        { method: 'PUT', path: '/apisix/admin/consumers/jack', status: 201, key: 'test-admin' },
      );
      assert.equal(typeof lines[0]?.duration_ms, 'number');
      const all = JSON.stringify(t.admin.logLines());
      assert.ok(!all.includes(ADMIN_KEY));
      assert.ok(!all.includes('super-secret-value'));
    });
  });

  describe('when etcd is down', function () {
    this.timeout(60_000);

    it('should answer 503 within a few seconds and recover when etcd returns', async function () {
      const etcd = requireEtcdControl(this, t.etcd);
      await t.admin.request('PUT', '/apisix/admin/routes/1', ROUTE);
      await etcd.kill();
      try {
        const start = Date.now();
        const res = await t.admin.request('GET', '/apisix/admin/routes/1');
        assert.equal(res.status, 503);
        assert.match(res.body.error_msg, /config store unreachable/);
        assert.ok(!res.text.includes('127.0.0.1'), 'the store address stays in the log');
        assert.ok(Date.now() - start < 5000, `took ${Date.now() - start} ms`);
        const write = await t.admin.request('PUT', '/apisix/admin/routes/2', ROUTE);
        assert.equal(write.status, 503);
      } finally {
        await etcd.restart();
      }
      let status = 0;
      for (let i = 0; i < 40 && status !== 200; i++) {
        status = (await t.admin.request('GET', '/apisix/admin/routes/1')).status;
        if (status !== 200) {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      assert.equal(status, 200);
    });
  });
});
