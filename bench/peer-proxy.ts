/**
 * The Node peer: a plain reverse proxy built on http-proxy, with a keep-alive
 * agent to the upstream and X-Forwarded-* headers, as a gateway would add.
 *
 *   node --import tsx bench/peer-proxy.ts <listen-port> <upstream-port>
 */
import { Agent, createServer } from 'node:http';

import httpProxy from 'http-proxy';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listenPort) || !Number.isInteger(upstreamPort)) {
  console.error('usage: peer-proxy.ts <listen-port> <upstream-port>');
  process.exit(64);
}

const proxy = httpProxy.createProxyServer({
  target: `http://127.0.0.1:${upstreamPort}`,
  agent: new Agent({ keepAlive: true, maxSockets: 64 }),
  xfwd: true,
});

proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'application/json' });
  }
  res.end('{"error_msg":"bad gateway"}');
});

createServer((req, res) => proxy.web(req, res)).listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
