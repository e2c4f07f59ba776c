import assert from 'node:assert/strict';
import { connect } from 'node:net';

import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startAdmin } from '../helpers/admin.js';
import type { TestAdmin } from '../helpers/admin.js';
import { eventually, startNode } from '../helpers/data-plane.js';
import type { TestNode } from '../helpers/data-plane.js';
import {
  closedPort,
  startTlsServer,
  startUpgradeEcho,
  startUpstream,
} from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

/** Sends raw bytes and returns the raw answer (or '' when the server just closes). */
function raw(port: number, text: string, waitMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (c) => (out += c.toString()));
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.write(text);
    setTimeout(() => socket.end(), waitMs);
  });
}

describe('data plane gateway', function () {
  let etcd: TestEtcd;
  let adminStore: ConfigStore;
  let nodeStore: ConfigStore;
  let admin: TestAdmin;
  let node: TestNode;
  let up: TestUpstream[];

  before(async function () {
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    const prefix = uniquePrefix('gateway');
    adminStore = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    nodeStore = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    admin = await startAdmin(adminStore);
    node = await startNode(nodeStore);
    await node.sync.whenReady();
    up = await Promise.all(['a', 'b', 'c'].map((n) => startUpstream(n)));
  });
  afterEach(async function () {
    await node.close(0);
    await admin.close();
    await Promise.all(up.map((u) => u.close()));
    await adminStore.close();
    await nodeStore.close();
  });

  /** Writes through the Admin API and waits until the node serves that revision. */
  async function put(path: string, body: unknown): Promise<void> {
    const res = await admin.request('PUT', `/apisix/admin${path}`, body);
    assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`);
    await eventually(async () => node.sync.status().revision >= res.body.modifiedIndex);
  }

  const upstreamOf = (...nodes: TestUpstream[]) => ({
    nodes: Object.fromEntries(nodes.map((u) => [u.node, 1])),
  });

  describe('routing', function () {
    it('should proxy a matched route and answer 404 in APISIX shape otherwise', async function () {
      await put('/routes/1', { uri: '/ip', methods: ['GET'], upstream: upstreamOf(up[0]!) });
      const ok = await node.request('/ip');
      assert.equal(ok.status, 200);
      assert.equal(ok.body.name, 'a');
      assert.equal(ok.body.url, '/ip');

      const miss = await node.request('/other');
      assert.equal(miss.status, 404);
      assert.deepEqual(miss.body, { error_msg: '404 Route Not Found' });
      const wrongMethod = await node.request('/ip', { method: 'POST' });
      assert.equal(wrongMethod.status, 404);
    });

    it('should match and forward the normalised path, never the raw one', async function () {
      await put('/routes/public', { uri: '/public/*', upstream: upstreamOf(up[0]!) });
      await put('/routes/admin', { uri: '/admin/*', upstream: upstreamOf(up[1]!) });

      const answer = await raw(node.port, 'GET /public/../admin/x HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.match(answer, /"name":"b"/);
      assert.match(answer, /"url":"\/admin\/x"/);
      const encoded = await raw(
        node.port,
        'GET /public/%2e%2e/admin/y HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.match(encoded, /"url":"\/admin\/y"/);
      const slash = await raw(node.port, 'GET /public/a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.match(slash, /"url":"\/public\/a%2Fb"/);
    });

    it('should never let the request target choose the upstream host', async function () {
      await put('/routes/1', { uri: '/*', upstream: upstreamOf(up[0]!) });
      const absolute = await raw(
        node.port,
        'GET http://169.254.169.254/x HTTP/1.1\r\nHost: a\r\n\r\n',
      );
      assert.match(absolute, /^HTTP\/1\.1 400/);
      const doubled = await raw(node.port, 'GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.match(doubled, /"url":"\/evil\.example\/x"/);
      assert.match(doubled, /"name":"a"/);
    });

    it('should use service_id and upstream_id to supply the upstream', async function () {
      await put('/upstreams/u1', upstreamOf(up[2]!));
      await put('/services/s1', { upstream_id: 'u1' });
      await put('/routes/1', { uri: '/svc', service_id: 's1' });
      await put('/routes/2', { uri: '/up', upstream_id: 'u1' });
      assert.equal((await node.request('/svc')).body.name, 'c');
      assert.equal((await node.request('/up')).body.name, 'c');
    });

    it('should stop serving a disabled or deleted route', async function () {
      await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
      assert.equal((await node.request('/ip')).status, 200);
      await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!), status: 0 });
      assert.equal((await node.request('/ip')).status, 404);
      await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
      const res = await admin.request('DELETE', '/apisix/admin/routes/1');
      await eventually(async () => node.sync.status().revision >= res.body.modifiedIndex || true);
      await eventually(async () => (await node.request('/ip')).status === 404);
    });
  });

  describe('balancing and failover', function () {
    it('should share requests by weight with round-robin', async function () {
      const nodes = { [up[0]!.node]: 2, [up[1]!.node]: 1, [up[2]!.node]: 1 };
      await put('/routes/1', { uri: '/ip', upstream: { nodes } });
      const counts: Record<string, number> = {};
      for (let i = 0; i < 200; i++) {
        const name = (await node.request('/ip')).body.name as string;
        counts[name] = (counts[name] ?? 0) + 1;
      }
      assert.deepEqual(counts, { a: 100, b: 50, c: 50 });
    });

    it('should pin a key to one node with chash', async function () {
      const nodes = { [up[0]!.node]: 1, [up[1]!.node]: 1, [up[2]!.node]: 1 };
      await put('/routes/1', {
        uri: '/ip',
        upstream: { nodes, type: 'chash', hash_on: 'header', key: 'x-user' },
      });
      for (const user of ['alice', 'bob', 'carol']) {
        const first = (await node.request('/ip', { headers: { 'x-user': user } })).body.name;
        for (let i = 0; i < 5; i++) {
          const again = await node.request('/ip', { headers: { 'x-user': user } });
          assert.equal(again.body.name, first);
        }
      }
    });

    it('should retry an idempotent request on another node when a connection is refused', async function () {
      const dead = `127.0.0.1:${await closedPort()}`;
      await put('/routes/1', { uri: '/ip', upstream: { nodes: { [dead]: 1, [up[0]!.node]: 1 } } });
      for (let i = 0; i < 6; i++) {
        const res = await node.request('/ip');
        assert.equal(res.status, 200);
        assert.equal(res.body.name, 'a');
      }
    });

    it('should answer 502 when no node can be reached and not retry a POST', async function () {
      const dead = `127.0.0.1:${await closedPort()}`;
      await put('/routes/1', { uri: '/ip', upstream: { nodes: { [dead]: 1 } } });
      const res = await node.request('/ip');
      assert.equal(res.status, 502);
      assert.match(res.body.error_msg, /bad gateway/);

      await put('/routes/2', {
        uri: '/post',
        upstream: { nodes: { [dead]: 1, [up[0]!.node]: 1 }, type: 'roundrobin' },
      });
      const statuses = new Set<number>();
      for (let i = 0; i < 4; i++) {
        statuses.add((await node.request('/post', { method: 'POST', body: 'x' })).status);
      }
      assert.deepEqual([...statuses].sort(), [200, 502]);
    });

    it('should answer 504 when the upstream does not answer within the read timeout', async function () {
      await put('/routes/1', {
        uri: '/delay/*',
        upstream: { ...upstreamOf(up[0]!), timeout: { connect: 1, send: 1, read: 0.3 } },
      });
      const res = await node.request('/delay/2000');
      assert.equal(res.status, 504);
      const fast = await node.request('/delay/10');
      assert.equal(fast.status, 200);
    });
  });

  describe('upstream host and scheme', function () {
    it('should pass, replace or rewrite the Host header as pass_host says', async function () {
      const base = upstreamOf(up[0]!);
      await put('/routes/pass', { uri: '/pass', upstream: base });
      await put('/routes/node', { uri: '/node', upstream: { ...base, pass_host: 'node' } });
      await put('/routes/rewrite', {
        uri: '/rewrite',
        upstream: { ...base, pass_host: 'rewrite', upstream_host: 'api.internal' },
      });
      const host = async (path: string) =>
        (await node.request(path, { headers: { host: 'public.example' } })).body.headers.host;
      assert.equal(await host('/pass'), 'public.example');
      assert.equal(await host('/node'), up[0]!.node);
      assert.equal(await host('/rewrite'), 'api.internal');
    });

    it('should proxy to an https upstream', async function () {
      const tls = await startTlsUpstream();
      try {
        await put('/routes/1', {
          uri: '/ip',
          upstream: { nodes: { [tls.node]: 1 }, scheme: 'https' },
        });
        const res = await node.request('/ip');
        assert.equal(res.status, 200);
        assert.equal(res.body.tls, true);
      } finally {
        await tls.close();
      }
    });
  });

  describe('slow clients', function () {
    it('should close a connection that does not finish its headers in time', async function () {
      const strict = await startNode(nodeStore, { TOLLGATE_HEADERS_TIMEOUT_MS: '500' });
      try {
        const started = Date.now();
        const answer = await new Promise<string>((resolve) => {
          const socket = connect(strict.port, '127.0.0.1');
          let out = '';
          socket.on('data', (c) => (out += c.toString()));
          socket.on('close', () => resolve(out));
          socket.write('GET /ip HTTP/1.1\r\nHost: a\r\nX-Slow: ');
        });
        assert.match(answer, /^HTTP\/1\.1 408|^$/);
        assert.ok(Date.now() - started < 5000);
      } finally {
        await strict.close(0);
      }
    });
  });

  describe('headers', function () {
    it('should drop hop-by-hop headers both ways and set forwarding headers', async function () {
      await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
      const res = await node.request('/ip', {
        headers: {
          connection: 'keep-alive, x-drop-me',
          'x-drop-me': '1',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'proxy-authorization': 'Basic eA==',
          'x-forwarded-for': '6.6.6.6',
          'x-keep': 'yes',
        },
      });
      const seen = res.body.headers as Record<string, string>;
      for (const h of ['x-drop-me', 'keep-alive', 'te', 'proxy-authorization']) {
        assert.equal(seen[h], undefined, h);
      }
      assert.equal(seen['x-keep'], 'yes');
      assert.equal(seen['x-forwarded-for'], '127.0.0.1', 'an untrusted peer cannot spoof');
      assert.equal(seen['x-real-ip'], '127.0.0.1');
      assert.equal(seen['x-forwarded-proto'], 'http');
      assert.equal(res.headers['x-upstream-drop'], undefined, 'named in the upstream Connection');
    });

    it('should believe X-Forwarded-For only from a trusted proxy', async function () {
      const trusting = await startNode(nodeStore, { TOLLGATE_TRUSTED_PROXIES: '127.0.0.1/32' });
      try {
        await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
        await eventually(async () => (await trusting.request('/ip')).status === 200);
        const res = await trusting.request('/ip', {
          headers: { 'x-forwarded-for': '203.0.113.9' },
        });
        assert.equal(res.body.headers['x-real-ip'], '203.0.113.9');
        assert.equal(res.body.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
      } finally {
        await trusting.close(0);
      }
    });
  });

  describe('request smuggling and malformed requests', function () {
    const cases: [string, string][] = [
      [
        'both Content-Length and Transfer-Encoding',
        'POST /ip HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      ],
      [
        'two different Content-Length headers',
        'POST /ip HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      ],
      ['a malformed Content-Length', 'POST /ip HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\na'],
      ['an invalid header byte', 'GET /ip HTTP/1.1\r\nHost: a\r\nX-Bad: a\x01b\r\n\r\n'],
      ['a space before the header colon', 'GET /ip HTTP/1.1\r\nHost: a\r\nX-Bad : 1\r\n\r\n'],
    ];
    for (const [what, request] of cases) {
      it(`should refuse ${what} before it reaches the upstream`, async function () {
        await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
        const before = up[0]!.seen.length;
        const answer = await raw(node.port, request);
        assert.match(answer, /^HTTP\/1\.1 400/);
        assert.equal(up[0]!.seen.length, before);
      });
    }

    it('should refuse oversized headers with 431', async function () {
      await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
      const big = 'x'.repeat(20_000);
      const answer = await raw(node.port, `GET /ip HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\n\r\n`);
      assert.match(answer, /^HTTP\/1\.1 431/);
    });
  });

  describe('websocket', function () {
    it('should pass an upgrade only on a route with enable_websocket', async function () {
      const echo = await startUpgradeEcho();
      try {
        await put('/routes/ws', { uri: '/ws', enable_websocket: true, upstream: upstreamOf(echo) });
        await put('/routes/plain', { uri: '/plain', upstream: upstreamOf(echo) });
        const handshake = (path: string, extra = '') =>
          `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;

        const answer = await raw(node.port, handshake('/ws') + 'ping-through');
        assert.match(answer, /^HTTP\/1\.1 101/);
        assert.match(answer, /ping-through$/);
        assert.equal(echo.seen[0]?.headers['x-forwarded-for'], '127.0.0.1');

        // Without enable_websocket the request goes upstream as plain HTTP,
        // its Upgrade dropped, as APISIX does; this upstream answers 426.
        const plain = await raw(node.port, handshake('/plain'));
        assert.match(plain, /^HTTP\/1\.1 426/);
        assert.equal(echo.seen.length, 1, 'no second upgrade reached the upstream');

        const withBody = await raw(node.port, handshake('/ws', 'Content-Length: 5\r\n') + 'hello');
        assert.match(withBody, /^HTTP\/1\.1 400/);
      } finally {
        await echo.close();
      }
    });

    it('should answer 504 when the upstream never answers the handshake', async function () {
      const { createServer } = await import('node:net');
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as { port: number }).port;
      try {
        await put('/routes/ws', {
          uri: '/ws',
          enable_websocket: true,
          upstream: {
            nodes: { [`127.0.0.1:${port}`]: 1 },
            timeout: { connect: 0.2, send: 0.2, read: 0.3 },
          },
        });
        const answer = await raw(
          node.port,
          'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
          2000,
        );
        assert.match(answer, /^HTTP\/1\.1 504/);
      } finally {
        silent.close();
      }
    });
  });

  describe('hostile clients and upstreams', function () {
    /** A loopback server that answers every connection with these bytes. */
    async function rawUpstream(answer: string) {
      const { createServer } = await import('node:net');
      const server = createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => socket.end(answer));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      return { node: `127.0.0.1:${port}`, close: () => server.close() };
    }

    it('should answer 502 to a malformed upstream answer, and to a 101 nobody asked for', async function () {
      const answers = [
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
        'HTTP/1.1 2000 Odd\r\nContent-Length: 0\r\n\r\n',
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n',
        'nonsense\r\n\r\n',
      ];
      for (const answer of answers) {
        const bad = await rawUpstream(answer);
        try {
          await put('/routes/1', { uri: '/bad', upstream: { nodes: { [bad.node]: 1 } } });
          const res = await node.request('/bad');
          assert.equal(res.status, 502, JSON.stringify(answer));
        } finally {
          bad.close();
        }
      }
    });

    it('should leave no upstream request open when the client body turns out malformed', async function () {
      await put('/routes/1', { uri: '/sink', upstream: upstreamOf(up[0]!) });
      const bad = 'POST /sink HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n';
      // With and without a pause, so the upstream request is both already
      // on its way and not yet sent when the bad chunk arrives.
      await raw(node.port, `${bad}5\r\nhello\r\nZZ\r\n`);
      const { connect: tcp } = await import('node:net');
      const socket = tcp(node.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`${bad}5\r\nhello\r\n`);
      await eventually(async () => up[0]!.open() === 1, 2000);
      socket.write('ZZ\r\n');
      await eventually(async () => up[0]!.open() === 0, 2000);
      assert.ok(up[0]!.aborted() >= 1);
      socket.destroy();
    });

    const framing: [string, string, RegExp][] = [
      ['two Host headers', 'GET /ip HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', /^HTTP\/1\.1 400/],
      ['HTTP/1.1 without Host', 'GET /ip HTTP/1.1\r\n\r\n', /^HTTP\/1\.1 400/],
      [
        'an encoded NUL in the path',
        'GET /ip%00.txt HTTP/1.1\r\nHost: a\r\n\r\n',
        /^HTTP\/1\.1 400/,
      ],
      ['CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: a\r\n\r\n', /^HTTP\/1\.1 405/],
    ];
    for (const [what, request, expected] of framing) {
      it(`should refuse ${what}`, async function () {
        await put('/routes/1', { uri: '/ip', upstream: upstreamOf(up[0]!) });
        const before = up[0]!.seen.length;
        assert.match(await raw(node.port, request), expected);
        assert.equal(up[0]!.seen.length, before);
      });
    }

    it('should send 100 Continue only after routing and auth have passed', async function () {
      await put('/routes/1', {
        uri: '/sink',
        plugins: { 'jwt-auth': {} },
        upstream: upstreamOf(up[0]!),
      });
      const refused = await raw(
        node.port,
        'POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      );
      assert.match(refused, /^HTTP\/1\.1 401/);
      await put('/routes/2', { uri: '/open-sink', upstream: { nodes: { [up[0]!.node]: 1 } } });
      const accepted = await raw(
        node.port,
        'POST /open-sink HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello',
      );
      assert.match(accepted, /^HTTP\/1\.1 100 Continue/);
      assert.match(accepted, /HTTP\/1\.1 200/);
    });

    it('should match a host written with a trailing dot', async function () {
      await put('/routes/1', { uri: '/ip', host: 'api.example.com', upstream: upstreamOf(up[0]!) });
      const res = await node.request('/ip', { headers: { host: 'api.example.com.' } });
      assert.equal(res.status, 200);
    });
  });

  describe('large bodies', function () {
    this.timeout(120_000);

    it('should stream a 1 GiB upload and download without buffering them', async function () {
      await put('/routes/1', { uri: '/*', upstream: upstreamOf(up[0]!) });
      const size = 1024 * 1024 * 1024;
      const rssBefore = process.memoryUsage().rss;

      const download = await streamCount(`${node.url}/bytes/${size}`);
      assert.equal(download, size);

      const upload = await streamUpload(`${node.url}/sink`, size);
      assert.equal(upload.size, size);
      const growth = process.memoryUsage().rss - rssBefore;
      assert.ok(growth < 256 * 1024 * 1024, `resident memory grew by ${growth} bytes`);
    });
  });
});

function startTlsUpstream(): Promise<{ node: string; close(): Promise<void> }> {
  return startTlsServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ tls: true }));
  });
}

async function streamCount(url: string): Promise<number> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

async function streamUpload(url: string, size: number): Promise<{ size: number }> {
  const { request } = await import('node:http');
  const chunk = Buffer.alloc(256 * 1024, 0x62);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-length': size } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { size: number }));
    });
    req.on('error', reject);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}
