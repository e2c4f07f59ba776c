import assert from 'node:assert/strict';

import { adminOnEtcd } from '../helpers/admin-fixture.js';

const UPSTREAM = { nodes: { '127.0.0.1:1980': 1 } };

describe('Admin API validation', function () {
  const t = adminOnEtcd('validation');

  /** Asserts a 400 whose message matches, and that nothing was written. */
  async function refused(
    method: 'PUT' | 'POST' | 'PATCH',
    path: string,
    body: unknown,
    msg: RegExp,
  ) {
    const before = await t.store.revision();
    const res = await t.admin.request(method, path, body);
    assert.equal(res.status, 400, `${res.status} ${res.text}`);
    assert.match(res.body.error_msg, msg);
    assert.equal(await t.store.revision(), before, 'nothing may be written');
  }

  const cases: [string, string, unknown, RegExp][] = [
    [
      'a route without uri',
      '/routes/1',
      { upstream: UPSTREAM },
      /^invalid configuration: property "uri" is required$/,
    ],
    [
      'a route with uri and uris',
      '/routes/1',
      { uri: '/a', uris: ['/b'], upstream: UPSTREAM },
      /only one of "uri" and "uris"/,
    ],
    ['a route with nothing to do', '/routes/1', { uri: '/a' }, /one of "plugins", "upstream"/],
    [
      'a uri of the wrong type',
      '/routes/1',
      { uri: 5, upstream: UPSTREAM },
      /property "uri" validation failed: wrong type: expected string, got integer/,
    ],
    [
      'an unknown method',
      '/routes/1',
      { uri: '/a', methods: ['FETCH'], upstream: UPSTREAM },
      /property "methods\[0\]" validation failed: must be one of/,
    ],
    [
      'an unknown field',
      '/routes/1',
      { uri: '/a', upstream: UPSTREAM, colour: 'red' },
      /additional properties forbidden, found "colour"/,
    ],
    [
      'an unknown plugin',
      '/routes/1',
      { uri: '/a', plugins: { 'no-such': {} } },
      /unknown plugin \[no-such\]/,
    ],
    [
      'a bad plugin config',
      '/routes/1',
      { uri: '/a', plugins: { 'jwt-auth': { header: 5 } } },
      /failed to check the configuration of plugin jwt-auth err: property "header" validation failed/,
    ],
    [
      'a bad remote address',
      '/routes/1',
      { uri: '/a', remote_addrs: ['10.0.0.0/99'], upstream: UPSTREAM },
      /remote_addrs/,
    ],
    [
      'a bad vars operator',
      '/routes/1',
      { uri: '/a', vars: [['arg_x', '=~', 'a']], upstream: UPSTREAM },
      /vars\[0\].*unknown operator/,
    ],
    [
      'a bad vars regex',
      '/routes/1',
      { uri: '/a', vars: [['arg_x', '~~', '(']], upstream: UPSTREAM },
      /invalid regular expression/,
    ],
    [
      'a vars regex with a backreference',
      '/routes/1',
      { uri: '/a', vars: [['http_x', '~~', '(a)\\1']], upstream: UPSTREAM },
      /^invalid configuration: property "vars\[0\]" validation failed: unsupported regular expression "\(a\)\\\\1": .*not supported because matching must run in linear time/,
    ],
    [
      'a vars regex with a lookahead',
      '/routes/1',
      { uri: '/a', vars: [['http_x', '~*', 'a(?=b)']], upstream: UPSTREAM },
      /property "vars\[0\]" validation failed: unsupported regular expression/,
    ],
    [
      'an upstream without nodes',
      '/upstreams/1',
      { type: 'roundrobin' },
      /property "nodes" is required/,
    ],
    [
      'a node key that is not host:port',
      '/upstreams/1',
      { nodes: { 'a b:80': 1 } },
      /"a b:80" is not host:port/,
    ],
    [
      'a node port out of range',
      '/upstreams/1',
      { nodes: [{ host: '127.0.0.1', port: 70000, weight: 1 }] },
      /^invalid configuration: property "nodes\[0\]\.port" validation failed: expected 70000 to be at most 65535$/,
    ],
    // Nodes are a map or a list: a list must not be blamed for not being a map.
    [
      'a node port of 0 in the list form',
      '/routes/1',
      { uri: '/x', upstream: { nodes: [{ host: '[::1]', port: 0, weight: 1 }] } },
      /^invalid configuration: property "upstream\.nodes\[0\]\.port" validation failed: expected 0 to be at least 1$/,
    ],
    [
      'a list node without weight',
      '/routes/1',
      { uri: '/x', upstream: { nodes: [{ host: '[::1]', port: 0 }] } },
      /^invalid configuration: property "upstream\.nodes\[0\]\.weight" is required$/,
    ],
    [
      'a list node with an unknown field',
      '/upstreams/1',
      { nodes: [{ host: '::1', port: 80, weight: 1, colour: 'red' }] },
      /property "nodes\[0\]" validation failed: additional properties forbidden, found "colour"/,
    ],
    [
      'nodes that are neither a map nor a list',
      '/upstreams/1',
      { nodes: '127.0.0.1:80' },
      /property "nodes" validation failed: wrong type: expected object or array, got string$/,
    ],
    [
      'a negative weight',
      '/upstreams/1',
      { nodes: { '127.0.0.1:80': -1 } },
      /property "nodes\.127\.0\.0\.1:80" validation failed: expected -1 to be at least 0$/,
    ],
    [
      'rewrite without upstream_host',
      '/upstreams/1',
      { ...UPSTREAM, pass_host: 'rewrite' },
      /upstream_host" is required/,
    ],
    [
      'chash without key',
      '/upstreams/1',
      { ...UPSTREAM, type: 'chash' },
      /"key" is required when "type" is chash/,
    ],
    [
      'an unsupported scheme',
      '/upstreams/1',
      { ...UPSTREAM, scheme: 'grpc' },
      /property "scheme" validation failed/,
    ],
    [
      'a consumer jwt-auth without key',
      '/consumers/jack',
      { plugins: { 'jwt-auth': { secret: 's' } } },
      /plugin jwt-auth err: property "key" is required/,
    ],
    [
      'an RS256 consumer without public key',
      '/consumers/jack',
      { plugins: { 'jwt-auth': { key: 'k', algorithm: 'RS256' } } },
      /"public_key" is required when "algorithm" is RS256/,
    ],
    [
      'a consumer with a route-only field',
      '/consumers/jack',
      { plugins: { 'jwt-auth': { key: 'k', header: 'x' } } },
      /additional properties forbidden, found "header"/,
    ],
    ['a bad username', '/consumers/a%20b', { plugins: {} }, /invalid consumer id/],
    [
      'a username with a dot',
      '/consumers/a.b',
      { plugins: {} },
      /use 1-256 characters from a-z A-Z 0-9 - _$/,
    ],
    ['a plugin config without plugins', '/plugin_configs/1', {}, /property "plugins" is required/],
    [
      'an id with a slash-free but invalid character',
      '/routes/a$b',
      { uri: '/a', upstream: UPSTREAM },
      /invalid route id/,
    ],
    [
      'an id longer than 64 characters',
      `/routes/${'a'.repeat(65)}`,
      { uri: '/a', upstream: UPSTREAM },
      /invalid route id/,
    ],
    [
      'a missing upstream reference',
      '/routes/1',
      { uri: '/a', upstream_id: 'nope' },
      /upstream id \[nope\]/,
    ],
    [
      'a missing plugin config reference',
      '/routes/1',
      { uri: '/a', upstream: UPSTREAM, plugin_config_id: 'x' },
      /plugin config id \[x\]/,
    ],
    ['a body that is not an object', '/routes/1', [1, 2], /must be a JSON object/],
  ];

  for (const [what, path, body, msg] of cases) {
    it(`should refuse ${what}`, async function () {
      await refused('PUT', `/apisix/admin${path}`, body, msg);
    });
  }

  it('should accept nodes as a map and as a list', async function () {
    const map = await t.admin.request('PUT', '/apisix/admin/upstreams/1', {
      nodes: { '127.0.0.1:80': 1, 'example.com': 2 },
    });
    assert.equal(map.status, 201);
    const list = await t.admin.request('PUT', '/apisix/admin/upstreams/2', {
      nodes: [{ host: '::1', port: 8080, weight: 1 }],
    });
    assert.equal(list.status, 201);
    assert.deepEqual(list.body.value.nodes, [{ host: '::1', port: 8080, weight: 1 }]);
  });

  it('should accept vars regexes that would backtrack, since they run on RE2', async function () {
    const patterns = ['((a+))+$', '(a|a)+$', '(a|aa)+$', '(\\w|\\d)+$', '(.*a){25}$'];
    for (const [i, pattern] of patterns.entries()) {
      const res = await t.admin.request('PUT', `/apisix/admin/routes/${i}`, {
        uri: '/a',
        vars: [['arg_a', '~~', pattern]],
        upstream: UPSTREAM,
      });
      assert.equal(res.status, 201, `${pattern}: ${res.text}`);
      assert.deepEqual(res.body.value.vars, [['arg_a', '~~', pattern]]);
    }
  });

  it('should keep an 18-digit numeric plugin_config_id exactly', async function () {
    const id = '123456789012345678';
    await t.admin.request('PUT', `/apisix/admin/plugin_configs/${id}`, { plugins: {} });
    const res = await t.admin.request(
      'PUT',
      '/apisix/admin/routes/1',
      `{"uri": "/a", "upstream": {"nodes": {"127.0.0.1:80": 1}}, "plugin_config_id": ${id}}`,
    );
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.value.plugin_config_id, id);
    const kv = await t.store.get('/routes/1');
    assert.equal(JSON.parse(kv?.value ?? '{}').plugin_config_id, id);
  });

  it('should refuse a huge integer outside id fields instead of rounding it', async function () {
    await refused(
      'PUT',
      '/apisix/admin/routes/1',
      '{"uri":"/a","upstream":{"nodes":{"127.0.0.1:80":1}},"priority":123456789012345678901}',
      /"priority" holds the integer/,
    );
  });

  it('should validate a PATCH sub path against the resource schema', async function () {
    await t.admin.request('PUT', '/apisix/admin/routes/1', { uri: '/a', upstream: UPSTREAM });
    await refused('PATCH', '/apisix/admin/routes/1/methods', ['NOPE'], /methods\[0\]/);
    await refused('PATCH', '/apisix/admin/routes/1/id', '"2"', /wrong route id/);
  });
});
