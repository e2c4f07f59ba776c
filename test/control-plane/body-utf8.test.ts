import assert from 'node:assert/strict';

import got from 'got';

import { adminOnEtcd } from '../helpers/admin-fixture.js';
import { ADMIN_KEY } from '../helpers/admin.js';

/**
 * The Admin API decodes bodies as strict UTF-8: a lossy decoder would turn
 * different invalid byte strings into the same U+FFFD text.
 */
describe('Admin API bodies that are not UTF-8', function () {
  const t = adminOnEtcd('body-utf8');

  async function putRaw(path: string, body: Buffer) {
    const res = await got(`${t.admin.url}/apisix/admin${path}`, {
      method: 'PUT',
      headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' },
      body,
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, unknown> };
  }

  /** A consumer body whose description is the given raw bytes. */
  const consumer = (desc: Buffer) =>
    Buffer.concat([Buffer.from('{"username":"jack","desc":"'), desc, Buffer.from('"}')]);

  it('should refuse invalid UTF-8 with 400 and an error_msg saying so, writing nothing', async function () {
    const before = await t.store.revision();
    for (const bytes of [[0xff], [0x80], [0xe6, 0x97], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      const res = await putRaw('/consumers/jack', consumer(Buffer.from(bytes)));
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error_msg, 'invalid request body: not valid UTF-8');
    }
    assert.equal(await t.store.revision(), before, 'nothing may be written');
  });

  it('should keep non-ASCII text that is valid UTF-8', async function () {
    const res = await putRaw('/consumers/jack', consumer(Buffer.from('grüße-日本-🙂')));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const read = await t.admin.request('GET', '/apisix/admin/consumers/jack');
    assert.equal(read.body.value.desc, 'grüße-日本-🙂');
  });
});
