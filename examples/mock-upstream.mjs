// The tutorial's backend, offline: GET /ip answers {"origin": "<caller address>"}.
// Usage: node examples/mock-upstream.mjs [port] [host]   (default 1980 on 127.0.0.1)
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? process.env.PORT ?? 1980);
const host = process.argv[3] ?? '127.0.0.1';

const server = createServer((req, res) => {
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'GET' && path === '/ip') {
    const origin = String(req.headers['x-real-ip'] ?? req.socket.remoteAddress);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ origin }));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: 'not found' }));
});

server.listen(port, host, () => {
  console.log(`mock upstream listening on ${host}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
