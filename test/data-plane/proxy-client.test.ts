import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import type { Socket } from 'node:net';

import type { RequestEndEvent } from '../../data-plane/gateway.js';
import { headersFromRaw, UpstreamPools } from '../../data-plane/upstream-client.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startAdmin } from '../helpers/admin.js';
import type { TestAdmin } from '../helpers/admin.js';
import { eventually, startNode } from '../helpers/data-plane.js';
import type { TestNode } from '../helpers/data-plane.js';
import { closedPort, startTlsServer, startUpstream } from '../helpers/upstream.js';
import type { TestUpstream } from '../helpers/upstream.js';

describe('upstream client', function () {
  let etcd: TestEtcd;
  let adminStore: ConfigStore;
  let nodeStore: ConfigStore;
  let admin: TestAdmin;
  let node: TestNode;
  let up: TestUpstream;
  const closers: (() => unknown)[] = [];

  before(async function () {
    etcd = await startTestEtcd();
  });
  after(async function () {
    await etcd.stop();
  });
  beforeEach(async function () {
    const prefix = uniquePrefix('proxy-client');
    adminStore = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    nodeStore = createEtcdStore({ endpoints: etcd.endpoints, prefix });
    admin = await startAdmin(adminStore);
    node = await startNode(nodeStore);
    await node.sync.whenReady();
    up = await startUpstream('a');
  });
  afterEach(async function () {
    await Promise.all(closers.splice(0).map((close) => close()));
    await node.close(0);
    await admin.close();
    await up.close();
    await adminStore.close();
    await nodeStore.close();
  });

  async function put(path: string, body: unknown): Promise<void> {
    const res = await admin.request('PUT', `/apisix/admin${path}`, body);
    assert.ok(res.status < 300, `${path}: ${res.status} ${res.text}`);
    await eventually(async () => node.sync.status().revision >= res.body.modifiedIndex);
  }

  /** A loopback server that answers the first request on each connection with these bytes. */
  async function rawUpstream(answer: string): Promise<string> {
    const server = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.write(answer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => server.close());
    return `127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  /** Collects the request-end events published while `fn` runs and shortly after. */
  async function requestEnds(fn: () => Promise<void>): Promise<RequestEndEvent[]> {
    const events: RequestEndEvent[] = [];
    const listener = (event: unknown) => events.push(event as RequestEndEvent);
    subscribe('tollgate:request:end', listener);
    try {
      await fn();
      await eventually(async () => events.length > 0, 3000);
      return events;
    } finally {
      unsubscribe('tollgate:request:end', listener);
    }
  }

  describe('connections', function () {
    it('should reuse keep-alive connections to a node', async function () {
      let connections = 0;
      const server = createServer((_req, res) => res.end('ok'));
      server.on('connection', () => connections++);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(() => {
        server.closeAllConnections();
        server.close();
      });
      const port = (server.address() as { port: number }).port;
      await put('/routes/1', { uri: '/ka', upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } });

      for (let i = 0; i < 20; i++) {
        assert.equal((await node.request('/ka')).text, 'ok');
      }
      assert.equal(connections, 1);
    });

    it('should not retry on another node when retries is 0', async function () {
      const dead = `127.0.0.1:${await closedPort()}`;
      await put('/routes/1', {
        uri: '/ip',
        upstream: { nodes: { [dead]: 1, [up.node]: 1 }, type: 'roundrobin', retries: 0 },
      });
      const statuses = new Set<number>();
      for (let i = 0; i < 4; i++) {
        statuses.add((await node.request('/ip')).status);
      }
      assert.deepEqual([...statuses].sort(), [200, 502]);
    });

    it('should retry a PUT on another node with its whole body', async function () {
      const dead = `127.0.0.1:${await closedPort()}`;
      await put('/routes/1', {
        uri: '/sink',
        upstream: { nodes: { [dead]: 1, [up.node]: 1 }, type: 'roundrobin' },
      });
      for (let i = 0; i < 4; i++) {
        const res = await node.request('/sink', { method: 'PUT', body: 'x'.repeat(100_000) });
        assert.equal(res.status, 200);
        assert.equal(res.body.size, 100_000);
      }
      const head = await node.request('/sink', { method: 'HEAD' });
      assert.equal(head.status, 200);
    });

    it('should send the upstream host name as SNI, never an address', async function () {
      const tls = await startSniUpstream();
      closers.push(() => tls.close());
      await put('/routes/ip', {
        uri: '/by-ip',
        upstream: { nodes: { [tls.node]: 1 }, scheme: 'https' },
      });
      await put('/routes/name', {
        uri: '/by-name',
        upstream: {
          nodes: { [tls.node]: 1 },
          scheme: 'https',
          pass_host: 'rewrite',
          upstream_host: 'api.internal',
        },
      });
      // An address node falls back to the Host header sent, as node:https does.
      const byHost = await node.request('/by-ip', { headers: { host: 'public.example:8080' } });
      assert.equal(byHost.status, 200);
      assert.equal(byHost.body.servername, 'public.example');
      assert.equal(byHost.body.host, 'public.example:8080');
      const byIp = await node.request('/by-ip', { headers: { host: '127.0.0.1' } });
      assert.equal(byIp.body.servername, null);
      const byName = await node.request('/by-name');
      assert.equal(byName.body.servername, 'api.internal');
      assert.equal(byName.body.host, 'api.internal');
    });
  });

  describe('answers', function () {
    it('should relay every Set-Cookie header and skip informational answers', async function () {
      const bad = await rawUpstream(
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n' +
          'HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n' +
          'Content-Length: 2\r\n\r\nok',
      );
      await put('/routes/1', { uri: '/c', upstream: { nodes: { [bad]: 1 } } });
      const res = await node.request('/c');
      assert.equal(res.status, 201);
      assert.equal(res.text, 'ok');
      assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
    });

    it('should answer 502 when the upstream closes before answering', async function () {
      const server = createTcpServer((socket) => socket.once('data', () => socket.destroy()));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(() => server.close());
      const port = (server.address() as { port: number }).port;
      await put('/routes/1', { uri: '/x', upstream: { nodes: { [`127.0.0.1:${port}`]: 1 } } });
      assert.equal((await node.request('/x')).status, 502);
    });

    it('should cut the client off when the upstream stalls mid-body', async function () {
      const stalled = await rawUpstream('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      await put('/routes/1', {
        uri: '/stall',
        upstream: {
          nodes: { [stalled]: 1 },
          timeout: { connect: 1, send: 0.3, read: 0.3 },
        },
      });
      const started = Date.now();
      const outcome = await new Promise<string>((resolve) => {
        request(`${node.url}/stall`, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve('complete'));
          res.on('error', () => resolve('cut'));
          res.on('aborted', () => resolve('cut'));
        })
          .on('error', () => resolve('cut'))
          .end();
      });
      assert.equal(outcome, 'cut');
      assert.ok(Date.now() - started < 5000);
    });
  });

  describe('request bodies', function () {
    it('should stream a chunked request body and send an empty one as empty', async function () {
      await put('/routes/1', { uri: '/sink', upstream: { nodes: { [up.node]: 1 } } });
      const chunked = await new Promise<{ size: number }>((resolve, reject) => {
        const req = request(`${node.url}/sink`, { method: 'POST' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(JSON.parse(body) as { size: number }));
        });
        req.on('error', reject);
        req.write('hello ');
        setTimeout(() => req.end('world'), 50);
      });
      assert.equal(chunked.size, 11);
      const empty = await node.request('/sink', { method: 'POST' });
      assert.equal(empty.body.size, 0);
    });

    it('should abort the upstream request and record 499 when the client breaks off', async function () {
      await put('/routes/1', { uri: '/sink', upstream: { nodes: { [up.node]: 1 } } });
      const events = await requestEnds(async () => {
        const socket = connect(node.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.write('POST /sink HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhello');
        await eventually(async () => up.open() === 1, 2000);
        socket.destroy();
        await eventually(async () => up.open() === 0, 2000);
      });
      assert.equal(up.aborted(), 1);
      assert.equal(events[0]?.status, 499);
    });

    it('should stop the upstream answer when the client goes away mid-download', async function () {
      await put('/routes/1', { uri: '/bytes/*', upstream: { nodes: { [up.node]: 1 } } });
      const socket: Socket = connect(node.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`GET /bytes/${1024 * 1024 * 1024} HTTP/1.1\r\nHost: a\r\n\r\n`);
      await new Promise((resolve) => socket.once('data', resolve));
      await eventually(async () => up.open() === 1, 2000);
      socket.destroy();
      await eventually(async () => up.open() === 0, 2000);
    });
  });
});

describe('UpstreamPools', function () {
  const node = { host: '127.0.0.1', port: 9, weight: 1, priority: 0, id: '127.0.0.1:9' };
  const target = { scheme: 'http' as const, node, servername: '', connectTimeoutMs: 1000 };

  it('should keep one pool per node, TLS name and connect timeout', function () {
    const pools = new UpstreamPools();
    try {
      assert.equal(pools.pool(target), pools.pool({ ...target }));
      pools.pool({ ...target, connectTimeoutMs: 2000 });
      pools.pool({ ...target, scheme: 'https', servername: 'api.internal' });
      assert.equal(pools.size, 3);
    } finally {
      pools.destroy();
    }
  });

  it('should close a pool no request has used for a whole sweep interval', async function () {
    const pools = new UpstreamPools({ sweepIntervalMs: 40 });
    try {
      const idle = pools.pool(target);
      const busyTarget = { ...target, connectTimeoutMs: 2000 };
      const busy = pools.pool(busyTarget);
      const keepUsing = setInterval(() => pools.pool(busyTarget), 10);
      await new Promise((resolve) => setTimeout(resolve, 200));
      clearInterval(keepUsing);
      assert.equal(idle.closed, true);
      assert.equal(busy.closed, false);
      assert.equal(pools.size, 1);
      assert.notEqual(pools.pool(target), idle, 'a closed pool is replaced');
    } finally {
      pools.destroy();
    }
    assert.equal(pools.size, 0);
  });
});

describe('headersFromRaw', function () {
  const raw = (...pairs: string[]) => pairs.map((p) => Buffer.from(p, 'latin1'));

  it('should merge duplicate fields as node:http does', function () {
    const headers = headersFromRaw(
      raw(
        ...['Set-Cookie', 'a=1', 'set-cookie', 'b=2'],
        ...['Vary', 'accept', 'VARY', 'origin'],
        ...['Content-Type', 'text/plain', 'content-type', 'text/html'],
        ...['X-Latin', 'caf\u00e9'],
      ),
    );
    assert.deepEqual(headers, {
      'set-cookie': ['a=1', 'b=2'],
      vary: 'accept, origin',
      'content-type': 'text/plain',
      'x-latin': 'caf\u00e9',
    });
  });
});

/** An https upstream that answers with the SNI and Host header it saw. */
function startSniUpstream(): Promise<{ node: string; close(): Promise<void> }> {
  return startTlsServer((req, res) => {
    const socket = req.socket as Socket & { servername?: string | false };
    const headers: IncomingHttpHeaders = req.headers;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ servername: socket.servername || null, host: headers.host }));
  });
}
