// The tutorial's web app, served and protected by Tollgate on one origin.
//
//   npm run demo                          # builds, then runs this file
//   node examples/demo.mjs --from-source  # runs bin/tollgate.ts through tsx
//
// It starts, all on 127.0.0.1: Tollgate (`all`, embedded store in a fresh
// temporary directory), the tutorial's mock API, and a static file server for
// examples/web; then it configures the gateway through the Admin API:
//
//   GET  /, /web/*  -> the static files       POST /login  -> password-login
//   POST /signup    -> consumer-signup         POST /logout -> jwt-logout
//   GET  /ip        -> jwt-auth, then the mock API
//
// Settings (environment): DEMO_GATEWAY_PORT (9080), DEMO_ADMIN_PORT (9180),
// DEMO_STATUS_PORT (9090), DEMO_WEB_PORT and DEMO_UPSTREAM_PORT (0: a free
// port), TOLLGATE_ADMIN_KEY (generated when unset, and then never shown),
// TOLLGATE_LOG_LEVEL (info) and TOLLGATE_ACCESS_LOG (true: each request is
// shown as `METHOD path -> status`). Ctrl-C or SIGTERM stops everything and
// deletes the temporary directory.
/* global fetch */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, URL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WEB = join(ROOT, 'examples', 'web');
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// The pages load only their own scripts and styles and talk only to their own origin.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function port(name, fallback, { allowZero = false } = {}) {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(value) || value < min || value > 65535) {
    throw new Error(`${name} must be a port number from ${min} to 65535, got ${raw}`);
  }
  return value;
}

function readSettings(argv) {
  return {
    fromSource: argv.includes('--from-source'),
    gateway: port('DEMO_GATEWAY_PORT', 9080),
    admin: port('DEMO_ADMIN_PORT', 9180),
    status: port('DEMO_STATUS_PORT', 9090),
    web: port('DEMO_WEB_PORT', 0, { allowZero: true }),
    upstream: port('DEMO_UPSTREAM_PORT', 0, { allowZero: true }),
    // An empty TOLLGATE_ADMIN_KEY counts as unset.
    adminKey: process.env.TOLLGATE_ADMIN_KEY || randomBytes(24).toString('base64url'),
    logLevel: process.env.TOLLGATE_LOG_LEVEL ?? 'info',
    accessLog: process.env.TOLLGATE_ACCESS_LOG ?? 'true',
  };
}

// --- the static file server ------------------------------------------------

/**
 * `/` is index.html and `/web/<name>` a file directly inside examples/web; a
 * name is letters, digits, dots, dashes and underscores with a known
 * extension, so no request can name a path outside the folder.
 */
function webFile(urlPath) {
  if (urlPath === '/' || urlPath === '/index.html') {
    return join(WEB, 'index.html');
  }
  const match = /^\/web\/([A-Za-z0-9][A-Za-z0-9._-]*)$/.exec(urlPath);
  if (!match || match[1].includes('..') || !(extname(match[1]) in TYPES)) {
    return undefined;
  }
  const file = join(WEB, match[1]);
  return dirname(file) === WEB ? file : undefined;
}

function serveWeb(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
    res.end('method not allowed\n');
    return;
  }
  const file = webFile((req.url ?? '/').split('?')[0]);
  let stat;
  try {
    stat = file ? statSync(file) : undefined;
  } catch {
    stat = undefined;
  }
  if (!file || !stat?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS });
    res.end('not found\n');
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)],
    'content-length': stat.size,
    ...SECURITY_HEADERS,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
}

function listen(server, wanted) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(wanted, HOST, () => resolve(server.address().port));
  });
}

async function freePort() {
  const probe = createServer();
  const found = await listen(probe, 0);
  await new Promise((resolve) => probe.close(resolve));
  return found;
}

// --- child processes -------------------------------------------------------

/** Starts a node process whose output is shown with a prefix and kept for errors. */
function child(name, args, env) {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = [];
  const forward = (chunk) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim()) {
        tail.push(line);
        tail.splice(0, tail.length - 50);
        console.log(`[${name}] ${brief(line)}`);
      }
    }
  };
  proc.stdout.on('data', forward);
  proc.stderr.on('data', forward);
  return { name, proc, tail };
}

/** Tollgate logs JSON lines; the terminal gets them short, a request as `METHOD path -> status`. */
function brief(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (entry === null || typeof entry !== 'object') {
    return line;
  }
  if (entry.message === 'access') {
    const consumer = entry.consumer ? `  (consumer ${entry.consumer})` : '';
    return `${entry.method} ${entry.path} -> ${entry.status}${consumer}`;
  }
  const { level, message, ...rest } = entry;
  delete rest.timestamp;
  delete rest.role;
  const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return `${level}: ${message}${extra}`;
}

function stopChild({ proc }) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve();
      return;
    }
    const force = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

function tollgateArgs(fromSource) {
  if (fromSource) {
    return ['--import', 'tsx', 'bin/tollgate.ts', 'all'];
  }
  const built = join(ROOT, 'dist', 'bin', 'tollgate.js');
  if (!existsSync(built)) {
    throw new Error('dist/ is missing: start the demo with `npm run demo`, which builds first');
  }
  return [built, 'all'];
}

function tollgateEnv(settings, dataDir) {
  // An empty config file, so a conf/config.yaml (or etcd endpoints) meant for
  // something else cannot reach the demo.
  const config = join(dataDir, 'demo.yaml');
  writeFileSync(config, '{}\n');
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TOLLGATE_CONFIG: config,
    TOLLGATE_DATA_DIR: join(dataDir, 'store'),
    TOLLGATE_ADMIN_KEY: settings.adminKey,
    TOLLGATE_ADMIN_LISTEN: `${HOST}:${settings.admin}`,
    TOLLGATE_GATEWAY_LISTEN: `${HOST}:${settings.gateway}`,
    TOLLGATE_STATUS_LISTEN: `${HOST}:${settings.status}`,
    TOLLGATE_WORKERS: '1',
    TOLLGATE_DRAIN_MS: '2000',
    TOLLGATE_LOG_LEVEL: settings.logLevel,
    TOLLGATE_ACCESS_LOG: settings.accessLog,
  };
}

async function waitFor(what, check, demo) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && !demo.stopping) {
    if (await check().catch(() => false)) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} was not ready within ${READY_TIMEOUT_MS / 1000} s`);
}

// --- the gateway's configuration ---------------------------------------------

function gatewayObjects(webNode, apiNode) {
  return [
    ['upstreams/demo-web', { name: 'Demo web files', nodes: { [webNode]: 1 } }],
    ['upstreams/demo-api', { name: 'Mock API upstream', nodes: { [apiNode]: 1 } }],
    [
      'routes/demo-web',
      {
        name: 'Demo web pages',
        uris: ['/', '/web/*'],
        methods: ['GET', 'HEAD'],
        upstream_id: 'demo-web',
      },
    ],
    [
      'routes/demo-signup',
      {
        name: 'Sign up',
        uri: '/signup',
        methods: ['POST'],
        // Everyone trying the demo shares one address, so more than the default 5 an hour.
        plugins: { 'consumer-signup': { rate_limit: { count: 20, window_seconds: 3600 } } },
      },
    ],
    [
      'routes/demo-login',
      { name: 'Log in', uri: '/login', methods: ['POST'], plugins: { 'password-login': {} } },
    ],
    [
      'routes/demo-logout',
      { name: 'Log out', uri: '/logout', methods: ['POST'], plugins: { 'jwt-logout': {} } },
    ],
    [
      'routes/demo-ip',
      {
        name: 'Mock API server route',
        uri: '/ip',
        methods: ['GET'],
        plugins: { 'jwt-auth': {} },
        upstream_id: 'demo-api',
      },
    ],
  ];
}

async function configure(settings, webNode, apiNode) {
  for (const [path, value] of gatewayObjects(webNode, apiNode)) {
    const res = await fetch(`http://${HOST}:${settings.admin}/apisix/admin/${path}`, {
      method: 'PUT',
      headers: { 'x-api-key': settings.adminKey, 'content-type': 'application/json' },
      body: JSON.stringify(value),
    });
    if (!res.ok) {
      throw new Error(`PUT /apisix/admin/${path} answered ${res.status}: ${await res.text()}`);
    }
  }
}

// --- start and stop ----------------------------------------------------------

async function main() {
  let settings;
  try {
    settings = readSettings(process.argv.slice(2));
  } catch (err) {
    console.error(`demo: ${err.message}`);
    process.exit(64);
  }
  const demo = {
    dataDir: mkdtempSync(join(tmpdir(), 'tollgate-demo-')),
    web: createServer(serveWeb),
    children: [],
    stopping: false,
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => void stop(demo, 0));
  }

  try {
    const webPort = await listen(demo.web, settings.web);
    const upstreamPort = settings.upstream || (await freePort());
    const mockArgs = ['examples/mock-upstream.mjs', String(upstreamPort), HOST];
    demo.children.push(child('mock-api', mockArgs, {}));
    const tollgate = child(
      'tollgate',
      tollgateArgs(settings.fromSource),
      tollgateEnv(settings, demo.dataDir),
    );
    demo.children.push(tollgate);
    for (const c of demo.children) {
      c.proc.once('exit', (code, signal) => exited(demo, c, signal ?? code));
    }

    await waitFor('Tollgate', () => ok(`http://${HOST}:${settings.status}/readyz`), demo);
    await configure(settings, `${HOST}:${webPort}`, `${HOST}:${upstreamPort}`);
    await waitFor('the pages', () => ok(`http://${HOST}:${settings.gateway}/`), demo);
    announce(settings, webPort, upstreamPort);
  } catch (err) {
    console.error(`demo: ${err.message}`);
    await stop(demo, 1);
  }
}

async function stop(demo, code) {
  if (demo.stopping) {
    return;
  }
  demo.stopping = true;
  await Promise.all(demo.children.map(stopChild));
  demo.web.close();
  demo.web.closeAllConnections();
  rmSync(demo.dataDir, { recursive: true, force: true });
  process.exit(code);
}

/** A child that dies on its own takes the demo down with it. */
function exited(demo, c, how) {
  if (demo.stopping) {
    return;
  }
  console.error(`demo: ${c.name} exited (${how}); its last lines:\n${c.tail.join('\n')}`);
  void stop(demo, 1);
}

async function ok(url) {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.ok;
}

function announce(settings, webPort, upstreamPort) {
  const keyNote = process.env.TOLLGATE_ADMIN_KEY
    ? 'your TOLLGATE_ADMIN_KEY'
    : 'with a generated key that is not shown';
  const gateway = `http://${HOST}:${settings.gateway}/`;
  console.log(
    [
      '',
      `Tollgate demo: open ${gateway}`,
      '',
      `  gateway     ${HOST}:${settings.gateway}   (the only address the browser uses)`,
      `  Admin API   ${HOST}:${settings.admin}   (${keyNote})`,
      `  status      ${HOST}:${settings.status}`,
      `  web files   ${HOST}:${webPort}   mock API ${HOST}:${upstreamPort}`,
      '',
      'Press Ctrl-C to stop.',
    ].join('\n'),
  );
}

await main();
