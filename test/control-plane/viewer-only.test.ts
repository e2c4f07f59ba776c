import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import got from 'got';

import { GENERATED_KEY_FILE } from '../../control-plane/admin-key.js';
import { startControlPlane } from '../../control-plane/server.js';
import type { ControlPlane } from '../../control-plane/server.js';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { Keyring } from '../../shared/secrets.js';
import { openEmbeddedStore } from '../../shared/store/embedded.js';
import type { ConfigStore } from '../../shared/store/types.js';

const VIEWER = 'viewer-key-0123456789abcdef';
const ADMIN = 'admin-key-0123456789abcdef';
const READ_ONLY = /read-only, every write will be refused until an admin key is set/;

/**
 * When keys are configured but none has the admin role, no key is generated
 * (the operator chose the keys); start-up warns that writes are refused.
 */
describe('control-plane start-up with only a viewer key', function () {
  let dir: string;
  let store: ConfigStore;
  let plane: ControlPlane | undefined;
  let lines: Record<string, unknown>[];

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-viewer-only-'));
    store = await openEmbeddedStore({ dataDir: join(dir, 'store'), prefix: '/apisix' });
  });
  afterEach(async function () {
    await plane?.close();
    plane = undefined;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>, yaml = ''): Promise<ControlPlane> {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml);
    const config = loadConfig({
      file,
      env: { TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0', TOLLGATE_DATA_DIR: join(dir, 'data'), ...env },
    });
    const stream = new PassThrough();
    lines = [];
    stream.on('data', (c: Buffer) =>
      lines.push(
        ...c
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      ),
    );
    const logger = createLogger({ level: 'debug', stream });
    plane = await startControlPlane(config, store, logger, new Keyring([]));
    return plane;
  }

  const warnings = () =>
    lines.filter((l) => l.level === 'warn' && READ_ONLY.test(String(l.message)));

  async function put(port: number, key: string) {
    const res = await got(`http://127.0.0.1:${port}/apisix/admin/routes/1`, {
      method: 'PUT',
      headers: { 'x-api-key': key },
      json: { uri: '/a', upstream: { nodes: { '127.0.0.1:1980': 1 } } },
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    return res.statusCode;
  }

  it('should warn that every write is refused when only TOLLGATE_VIEWER_KEY is set', async function () {
    const { port, generatedKey } = await start({ TOLLGATE_VIEWER_KEY: VIEWER });
    const [warning, ...more] = warnings();
    assert.ok(warning, `a read-only warning is logged: ${JSON.stringify(lines)}`);
    assert.equal(more.length, 0);
    assert.match(String(warning.setting), /TOLLGATE_ADMIN_KEY/);
    assert.deepEqual(warning.viewer_keys, ['env-viewer']);
    // As the warning says: no admin key was generated and the viewer key cannot write.
    assert.equal(generatedKey, undefined);
    assert.equal(existsSync(join(dir, 'data', GENERATED_KEY_FILE)), false);
    assert.equal(await put(port, VIEWER), 401);
  });

  it('should warn the same for viewer keys from the YAML file', async function () {
    await start({}, `admin:\n  keys:\n    - {name: ro, key: ${VIEWER}, role: viewer}\n`);
    assert.equal(warnings().length, 1);
    assert.deepEqual(warnings()[0]?.viewer_keys, ['ro']);
  });

  it('should not warn when an admin key is set next to the viewer key', async function () {
    const { port } = await start({ TOLLGATE_VIEWER_KEY: VIEWER, TOLLGATE_ADMIN_KEY: ADMIN });
    assert.deepEqual(warnings(), []);
    assert.equal(await put(port, ADMIN), 201);
  });

  it('should not warn when no key is set at all, since one is generated', async function () {
    const { generatedKey } = await start({});
    assert.ok(generatedKey);
    assert.deepEqual(warnings(), []);
  });
});
