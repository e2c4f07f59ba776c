import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  ConfigError,
  configEnvNames,
  loadConfig,
  PLACEHOLDER_ADMIN_KEY,
} from '../../shared/config.js';

describe('loadConfig', function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function yaml(text: string): string {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, text);
    return file;
  }

  it('should use documented defaults with no file and no environment', function () {
    const c = loadConfig({ env: {}, file: yaml('') });
    assert.deepEqual(c.admin.listen, { host: '0.0.0.0', port: 9180 });
    assert.deepEqual(c.gateway.listen, { host: '0.0.0.0', port: 9080 });
    assert.equal(c.etcd.prefix, '/apisix');
    assert.deepEqual(c.etcd.endpoints, []);
    assert.deepEqual(c.admin.keys, []);
    assert.deepEqual(c.admin.allow, ['127.0.0.0/8', '::1/128']);
    assert.equal(c.dataDir, 'data');
  });

  it('should read the YAML file and let the environment override it', function () {
    const file = yaml(
      [
        'admin:',
        '  listen: 127.0.0.1:9999',
        '  keys:',
        '    - {name: ops, key: 0123456789abcdef0123, role: admin}',
        'etcd:',
        '  endpoints: [http://10.0.0.1:2379]',
        '  prefix: /gw',
      ].join('\n'),
    );
    const c = loadConfig({
      file,
      env: {
        TOLLGATE_ETCD_ENDPOINTS: 'http://127.0.0.1:2379, https://127.0.0.2:2379',
        TOLLGATE_ADMIN_KEY: 'env-key-0123456789abcdef',
        TOLLGATE_DATA_DIR: '/var/lib/tollgate',
      },
    });
    assert.deepEqual(c.admin.listen, { host: '127.0.0.1', port: 9999 });
    assert.deepEqual(c.etcd.endpoints, ['http://127.0.0.1:2379', 'https://127.0.0.2:2379']);
    assert.equal(c.etcd.prefix, '/gw');
    assert.deepEqual(
      c.admin.keys.map((k) => [k.name, k.role]),
      [
        ['ops', 'admin'],
        ['env-admin', 'admin'],
      ],
    );
    assert.equal(c.dataDir, '/var/lib/tollgate');
    assert.ok(Object.isFrozen(c.admin));
  });

  it('should accept an IPv6 listen address', function () {
    const c = loadConfig({ env: { TOLLGATE_GATEWAY_LISTEN: '[::]:8080' }, file: yaml('') });
    assert.deepEqual(c.gateway.listen, { host: '::', port: 8080 });
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    [
      'a listen address without port',
      { TOLLGATE_ADMIN_LISTEN: 'localhost' },
      /TOLLGATE_ADMIN_LISTEN \(admin\.listen\)/,
    ],
    [
      'a port out of range',
      { TOLLGATE_GATEWAY_LISTEN: '0.0.0.0:70000' },
      /TOLLGATE_GATEWAY_LISTEN.*0-65535/,
    ],
    ['an endpoint that is not a URL', { TOLLGATE_ETCD_ENDPOINTS: 'etcd:2379 x' }, /ETCD_ENDPOINTS/],
    ['an endpoint with another scheme', { TOLLGATE_ETCD_ENDPOINTS: 'ftp://h:1' }, /must use http/],
    ['a prefix without a leading slash', { TOLLGATE_ETCD_PREFIX: 'apisix' }, /ETCD_PREFIX/],
    ['a prefix with a trailing slash', { TOLLGATE_ETCD_PREFIX: '/apisix/' }, /ETCD_PREFIX/],
    ['a short admin key', { TOLLGATE_ADMIN_KEY: 'short' }, /ADMIN_KEY: the key must be 16/],
    ['a bad CIDR', { TOLLGATE_ADMIN_ALLOW: '10.0.0.0/40' }, /TOLLGATE_ADMIN_ALLOW/],
    [
      'an allow-list that names nothing',
      { TOLLGATE_ADMIN_ALLOW: ',' },
      /ADMIN_ALLOW.*names nothing/,
    ],
    ['endpoints that name nothing', { TOLLGATE_ETCD_ENDPOINTS: ' , ' }, /ENDPOINTS.*names nothing/],
    [
      'a keyring key of the wrong size',
      { TOLLGATE_KEYRING: 'k:AAAA' },
      /TOLLGATE_KEYRING.*32 bytes/,
    ],
    ['an unknown log level', { TOLLGATE_LOG_LEVEL: 'loud' }, /LOG_LEVEL.*expected one of/],
    [
      'the example placeholder as admin key',
      { TOLLGATE_ADMIN_KEY: 'change-me-to-a-long-random-string' },
      /^invalid setting TOLLGATE_ADMIN_KEY: .*placeholder.*set a long random key/,
    ],
    [
      'the example placeholder as viewer key',
      { TOLLGATE_VIEWER_KEY: 'change-me-to-a-long-random-string' },
      /^invalid setting TOLLGATE_VIEWER_KEY: .*placeholder.*set a long random key/,
    ],
  ];
  for (const [what, env, message] of bad) {
    it(`should stop with a message naming the setting for ${what}`, function () {
      assert.throws(
        () => loadConfig({ env, file: yaml('') }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, message);
          return true;
        },
      );
    });
  }

  it('should name the YAML path of a bad file value', function () {
    const file = yaml('admin:\n  keys:\n    - {name: a, key: 0123456789abcdef0, role: root}\n');
    assert.throws(() => loadConfig({ env: {}, file }), /admin\.keys.*role must be/);
  });

  it('should refuse the example placeholder as a key in the file, for either role', function () {
    for (const role of ['admin', 'viewer']) {
      const file = yaml(
        `admin:\n  keys:\n    - {name: ops, key: ${PLACEHOLDER_ADMIN_KEY}, role: ${role}}\n`,
      );
      assert.throws(
        () => loadConfig({ env: {}, file }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, /^invalid setting admin\.keys: entry 0 \(ops\): /);
          assert.match(err.message, /placeholder "change-me-to-a-long-random-string"/);
          assert.match(err.message, /set a long random key/);
          return true;
        },
        role,
      );
    }
  });

  it('should refuse a file that is not a YAML mapping', function () {
    assert.throws(() => loadConfig({ env: {}, file: yaml('- a\n- b\n') }), /mapping at the top/);
    assert.throws(() => loadConfig({ env: {}, file: yaml('a: [') }), /not valid YAML/);
    assert.throws(() => loadConfig({ env: {}, file: join(dir, 'none.yaml') }), /cannot read/);
  });

  it('should list every environment variable it reads', function () {
    const names = configEnvNames();
    const documented = [
      'TOLLGATE_ADMIN_KEY',
      'TOLLGATE_ETCD_ENDPOINTS',
      'TOLLGATE_ETCD_PREFIX',
      'TOLLGATE_ADMIN_LISTEN',
      'TOLLGATE_GATEWAY_LISTEN',
      'TOLLGATE_DATA_DIR',
    ];
    for (const n of documented) {
      assert.ok(names.includes(n), n);
    }
  });
});

describe('conf/config.example.yaml', function () {
  const example = 'conf/config.example.yaml';

  it('should not start as copied, while its admin key is the placeholder', function () {
    assert.ok(readFileSync(example, 'utf8').includes(`key: ${PLACEHOLDER_ADMIN_KEY}`));
    assert.throws(
      () => loadConfig({ env: {}, file: example }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^invalid setting admin\.keys: entry 0 \(ops\): .*placeholder/);
        return true;
      },
    );
  });

  it('should load as a valid configuration once the key is replaced', function () {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
    try {
      const file = join(dir, 'config.yaml');
      const key = 'a-long-random-key-0123456789abcdef';
      writeFileSync(file, readFileSync(example, 'utf8').replace(PLACEHOLDER_ADMIN_KEY, key));
      const c = loadConfig({ env: {}, file });
      assert.deepEqual(c.admin.keys, [{ name: 'ops', key, role: 'admin' }]);
      assert.equal(c.etcd.prefix, '/apisix');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
