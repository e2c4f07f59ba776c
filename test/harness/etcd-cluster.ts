/**
 * Real etcd clusters on loopback for production-shaped tests: several
 * members, TLS with certificates made by openssl for the test, and
 * authentication. Each member can be stopped and started again on its ports
 * and data directory.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freeLoopbackPorts } from './etcd.js';

export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface ClusterOptions {
  members?: number;
  tls?: boolean;
  /** Enables authentication with a `root` user of this password. */
  rootPassword?: string;
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** Kills the member (SIGKILL); its data stays. Does nothing when it is not running. */
  stop(): Promise<void>;
  /** Starts the member again; does nothing when it is running. */
  start(): Promise<void>;
  /** Freezes the member (SIGSTOP): its sockets stay open but nothing answers. */
  pause(): void;
  /** Lets a paused member run on (SIGCONT). */
  resume(): void;
}

export interface EtcdCluster {
  endpoints: string[];
  members: EtcdMember[];
  tls?: TlsFiles;
  /** Stops every member (data kept). */
  stopAll(): Promise<void>;
  /** Starts the stopped members and waits until every member is healthy. */
  startAll(): Promise<void>;
  /** The index in `members` of the current raft leader, asked of every running member. */
  leader(): number;
  /** Stops everything and removes the data. */
  destroy(): Promise<void>;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** Writes a fresh RSA key and a certificate for `/CN=<name>`, signed by that key, valid a day. */
export function makeSelfSigned(name: string, keyFile: string, certFile: string): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  );
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all made here. */
export function makeCertificates(dir: string): TlsFiles {
  const f = (name: string) => join(dir, name);
  writeFileSync(f('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  makeSelfSigned('test-ca', f('ca.key'), f('ca.pem'));
  for (const who of ['server', 'client']) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${who === 'client' ? 'root' : 'localhost'}`,
      '-keyout',
      f(`${who}.key`),
      '-out',
      f(`${who}.csr`),
    );
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${who}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      f('san.cnf'),
      '-out',
      f(`${who}.pem`),
    );
  }
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

export async function startEtcdCluster(options: ClusterOptions = {}): Promise<EtcdCluster> {
  const count = options.members ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-etcd-cluster-'));
  const tls = options.tls ? makeCertificates(dir) : undefined;
  const scheme = tls ? 'https' : 'http';

  const ports = await freeLoopbackPorts(count * 2);
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `m${i}`,
    client: ports[2 * i] as number,
    peer: ports[2 * i + 1] as number,
  }));
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');

  const members = specs.map((spec) => {
    let proc: ChildProcess | undefined;
    const clientUrl = `${scheme}://127.0.0.1:${spec.client}`;
    const args = [
      `--name=${spec.name}`,
      `--data-dir=${join(dir, spec.name)}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${spec.peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${spec.peer}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      // Lets tests ping every half second to find a hung member quickly.
      '--grpc-keepalive-min-time=500ms',
      ...(tls
        ? [
            `--cert-file=${tls.serverCert}`,
            `--key-file=${tls.serverKey}`,
            `--trusted-ca-file=${tls.ca}`,
            '--client-cert-auth',
          ]
        : []),
    ];
    const running = () => proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    const member: EtcdMember = {
      name: spec.name,
      clientUrl,
      start: async () => {
        if (!running()) {
          proc = spawn('etcd', args, { stdio: 'ignore' });
        }
      },
      pause: () => {
        proc?.kill('SIGSTOP');
      },
      resume: () => {
        proc?.kill('SIGCONT');
      },
      stop: () =>
        new Promise((resolve) => {
          if (!proc || !running()) {
            resolve();
            return;
          }
          proc.once('exit', () => resolve());
          proc.kill('SIGKILL');
        }),
    };
    return member;
  });

  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    tls,
    stopAll: async () => {
      await Promise.all(members.map((m) => m.stop()));
    },
    startAll: async () => {
      await Promise.all(members.map((m) => m.start()));
      await waitHealthy(cluster);
    },
    leader: () => leaderIndex(cluster),
    destroy: async () => {
      await cluster.stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.startAll();
  if (options.rootPassword !== undefined) {
    enableAuth(cluster, options.rootPassword);
  }
  return cluster;
}

function etcdctl(cluster: EtcdCluster, args: string[], user?: string): string {
  const tlsArgs = cluster.tls
    ? [
        `--cacert=${cluster.tls.ca}`,
        `--cert=${cluster.tls.clientCert}`,
        `--key=${cluster.tls.clientKey}`,
      ]
    : [];
  const userArgs = user ? [`--user=${user}`] : [];
  return execFileSync(
    'etcdctl',
    [`--endpoints=${cluster.endpoints.join(',')}`, ...tlsArgs, ...userArgs, ...args],
    {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ).toString();
}

function enableAuth(cluster: EtcdCluster, password: string): void {
  etcdctl(cluster, ['user', 'add', `root:${password}`]);
  etcdctl(cluster, ['auth', 'enable']);
}

interface EndpointStatus {
  Endpoint: string;
  Status: { header: { member_id: string }; leader: string };
}

function leaderIndex(cluster: EtcdCluster): number {
  const json = etcdctl(cluster, ['endpoint', 'status', '--write-out=json', '--command-timeout=2s']);
  // Member ids are 64-bit: quote them before JSON.parse rounds them.
  const statuses = JSON.parse(
    json.replace(/"(member_id|leader)":(\d+)/g, '"$1":"$2"'),
  ) as EndpointStatus[];
  const leader = statuses.find((s) => s.Status.header.member_id === s.Status.leader);
  const index = cluster.endpoints.indexOf(leader?.Endpoint ?? '');
  if (index < 0) {
    throw new Error(`no member reports itself leader: ${JSON.stringify(statuses)}`);
  }
  return index;
}

async function waitHealthy(cluster: EtcdCluster): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      etcdctl(cluster, ['endpoint', 'health', '--command-timeout=1s']);
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`etcd cluster did not become healthy: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
