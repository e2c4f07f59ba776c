import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import got from 'got';

import { startUpstream } from '../helpers/upstream.js';

interface Started {
  child: ChildProcess;
  port: number;
  gatewayPort: number;
  stderr(): string;
}

/** Runs `tollgate all` as `npm start` does, on the embedded store, and waits for the Admin API. */
function startTollgate(dataDir: string, env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/tollgate.ts', 'all'], {
    env: {
      PATH: process.env.PATH,
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
      TOLLGATE_GATEWAY_LISTEN: '127.0.0.1:0',
      TOLLGATE_STATUS_LISTEN: '127.0.0.1:0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${stderr}`)), 20_000);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${stderr}`));
    };
    child.once('exit', onEarlyExit);
    const onData = (c: Buffer) => {
      stdout += c.toString();
      const m = /"message":"admin api listening"[^\n]*"port":(\d+)/.exec(stdout);
      const g = /"message":"gateway listening"[^\n]*"port":(\d+)/.exec(stdout);
      if (m && g) {
        clearTimeout(timer);
        child.off('exit', onEarlyExit);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve({ child, port: Number(m[1]), gatewayPort: Number(g[1]), stderr: () => stderr });
      }
    };
    child.stdout?.on('data', onData);
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

describe('tollgate all (npm start)', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-start-'));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('should generate an admin key once, keep it private, and serve the Admin API with it', async function () {
    const first = await startTollgate(dir);
    const keyFile = join(dir, 'admin.key');
    const key = readFileSync(keyFile, 'utf8').trim();
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.ok(await waitFor(first.stderr, key), 'the generated key is shown on first start');

    const upstream = await startUpstream('a');
    const url = `http://127.0.0.1:${first.port}/apisix/admin/routes/1`;
    const body = JSON.stringify({ uri: '/ip', upstream: { nodes: { [upstream.node]: 1 } } });
    const put = await got.put(url, { body, headers: { 'x-api-key': key }, throwHttpErrors: false });
    assert.equal(put.statusCode, 201);
    const proxied = await got(`http://127.0.0.1:${first.gatewayPort}/ip`).json<{ name: string }>();
    assert.equal(proxied.name, 'a', 'the gateway serves the route in the same process');
    await upstream.close();
    const denied = await got(url, { throwHttpErrors: false });
    assert.equal(denied.statusCode, 401);
    assert.equal(await stop(first.child), 0);

    const second = await startTollgate(dir);
    try {
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!second.stderr().includes(key), 'the key is shown only once');
      const get = await got(`http://127.0.0.1:${second.port}/apisix/admin/routes/1`, {
        headers: { 'x-api-key': key },
      }).json<{ value: { uri: string } }>();
      assert.equal(get.value.uri, '/ip', 'the embedded store kept the route');
    } finally {
      assert.equal(await stop(second.child), 0);
    }
  });

  it('should refuse to start on a bad setting and name it', async function () {
    await assert.rejects(
      startTollgate(dir, { TOLLGATE_GATEWAY_LISTEN: 'nowhere' }),
      /TOLLGATE_GATEWAY_LISTEN/,
    );
  });
});

async function waitFor(read: () => string, text: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (read().includes(text)) {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
