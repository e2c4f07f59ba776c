/**
 * The non-Tollgate servers: the nginx upstream that answers a fixed small
 * JSON, the nginx reverse proxy that is the reference, and a Node peer
 * (http-proxy). Each runs as its own process on the CPUs it is given, with
 * its config and scratch files in the Lab's temp dir.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

import { answers200 } from './http.js';
import type { Child, Lab } from './lab.js';
import { freePort, waitFor } from './lab.js';

export const UPSTREAM_BODY = '{"origin":"127.0.0.1"}';
const START_TIMEOUT_MS = 15_000;

export interface Server {
  child: Child;
  port: number;
  url: string;
}

export async function startUpstream(lab: Lab, name: string, cpus: string): Promise<Server> {
  const port = await freePort();
  const location = `default_type application/json; return 200 '${UPSTREAM_BODY}';`;
  return startNginx(lab, name, cpus, port, '', location);
}

/** nginx `proxy_pass` with upstream keepalive, one worker: the reference proxy. */
export async function startNginxProxy(
  lab: Lab,
  cpus: string,
  upstreamPort: number,
): Promise<Server> {
  const port = await freePort();
  const upstream = [
    'upstream backend {',
    `  server 127.0.0.1:${upstreamPort};`,
    '  keepalive 64;',
    '  keepalive_requests 1000000;',
    '}',
  ].join('\n');
  const location = [
    'proxy_pass http://backend;',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
  ].join(' ');
  return startNginx(lab, 'nginx-proxy', cpus, port, upstream, location);
}

async function startNginx(
  lab: Lab,
  name: string,
  cpus: string,
  port: number,
  httpExtra: string,
  location: string,
): Promise<Server> {
  const prefix = join(lab.dir, name);
  mkdirSync(join(prefix, 'temp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf(port, httpExtra, location));

  const errorLog = join(prefix, 'error.log');
  const child = lab.spawn(name, 'nginx', ['-p', prefix, '-c', conf, '-e', errorLog], { cpus });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} on port ${port}`, () => answers200(`${url}/ip`), START_TIMEOUT_MS, child);
  return { child, port, url };
}

function nginxConf(port: number, httpExtra: string, location: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path temp/${kind};`)
    .join('\n');
  return `daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
${temp}
${httpExtra}
  server {
    listen 127.0.0.1:${port};
    location / { ${location} }
  }
}
`;
}

/** A plain reverse proxy from npm (http-proxy) with a keep-alive agent. */
export async function startPeerProxy(
  lab: Lab,
  cpus: string,
  upstreamPort: number,
): Promise<Server> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./peer-proxy.ts', import.meta.url));
  const args = ['--import', 'tsx', script, String(port), String(upstreamPort)];
  const child = lab.spawn('peer-proxy', process.execPath, args, {
    cpus,
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `peer proxy on port ${port}`,
    () => answers200(`${url}/ip`),
    START_TIMEOUT_MS,
    child,
  );
  return { child, port, url };
}
