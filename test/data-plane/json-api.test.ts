import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { RequestContext } from '../../data-plane/context.js';
import { readJsonObject } from '../../data-plane/plugins/json-api.js';
import type { ResolvedRoute } from '../../data-plane/state.js';
import { send } from '../helpers/data-plane.js';
import { NOT_UTF8, rawJson } from '../helpers/raw-json.js';

describe('readJsonObject', function () {
  let server: Server;
  let url: string;

  before(async function () {
    // A real HTTP request on loopback; the handler echoes what readJsonObject read.
    const resolved = { route: { id: 'json-api-test' }, plugins: [] } as unknown as ResolvedRoute;
    server = createServer((req, res) => {
      const ctx = new RequestContext(req, res, '/', '', '127.0.0.1', resolved, {});
      void readJsonObject(ctx, req.headers['x-allow-empty'] === 'true').then((body) => {
        if (body !== undefined) {
          ctx.respond(200, { read: body });
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async function () {
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (body: Buffer | string, headers: Record<string, string> = {}) =>
    send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('should read a JSON object with non-ASCII UTF-8 text unchanged', async function () {
    const res = await post(rawJson({ password: 'grüße-日本-🙂' }));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { read: { password: 'grüße-日本-🙂' } });
  });

  it('should refuse bodies that are not valid UTF-8 with 400', async function () {
    const cases: [string, Buffer][] = [
      ['a lone 0xff', Buffer.from([0xff])],
      ['a lone continuation byte', Buffer.from([0x80])],
      ['a truncated sequence', Buffer.from([0xe6, 0x97])],
      ['an overlong encoding', Buffer.from([0xc0, 0xaf])],
      ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ];
    for (const [name, bytes] of cases) {
      const res = await post(rawJson({ password: Buffer.concat([Buffer.from('abc'), bytes]) }));
      assert.equal(res.status, 400, `${name}: ${res.text}`);
      assert.deepEqual(res.body, NOT_UTF8, name);
    }
  });

  it('should not read two different invalid byte strings as the same text', async function () {
    const a = await post(rawJson({ password: Buffer.from([0xff, 0xfe, 0xfd]) }));
    const b = await post(rawJson({ password: Buffer.from([0xc3, 0x28, 0xa0]) }));
    assert.deepEqual([a.status, b.status], [400, 400]);
    assert.deepEqual([a.body, b.body], [NOT_UTF8, NOT_UTF8]);
  });

  it('should still refuse valid UTF-8 that is not a JSON object, and read an allowed empty body', async function () {
    for (const body of ['[1]', '"text"', 'null', '{']) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.deepEqual(res.body, { message: 'the body must be a JSON object' });
    }
    const empty = await post('', { 'x-allow-empty': 'true' });
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.body, { read: {} });
  });
});
