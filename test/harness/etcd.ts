/**
 * A real etcd for integration tests, never a mock. In order of preference:
 * the endpoints in TOLLGATE_TEST_ETCD, a throwaway `etcd` process from PATH
 * on loopback ports, or a container through a Docker engine.
 */

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TestEtcd {
  endpoints: string[];
  stop(): Promise<void>;
  /** Stops the etcd process, keeping its data (only when the harness owns the process). */
  kill?(): Promise<void>;
  /** Starts the killed process again on the same ports and data. */
  restart?(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;
const ETCD_IMAGE = 'quay.io/coreos/etcd:v3.5.17';
const OUTPUT_KEPT = 4_096; // characters of etcd output kept for error messages

const HOW_TO_GET_ETCD =
  'integration tests need a real etcd: install the etcd-server Debian package ' +
  '(apt-get install etcd-server), or set TOLLGATE_TEST_ETCD=http://host:2379, ' +
  'or run a Docker engine';

/** A fresh key prefix, so that every test works on keys of its own. */
export function uniquePrefix(name: string): string {
  return `/tollgate-test/${name}-${randomBytes(6).toString('hex')}`;
}

export async function startTestEtcd(): Promise<TestEtcd> {
  const external = process.env.TOLLGATE_TEST_ETCD;
  if (external !== undefined && external !== '') {
    const endpoints = external.split(',').map((endpoint) => endpoint.trim());
    return { endpoints, stop: async () => undefined };
  }

  const binary = await findOnPath('etcd');
  if (binary !== undefined) {
    return LocalEtcd.start(binary);
  }

  const container = await startContainerEtcd();
  if (container !== undefined) {
    return container;
  }
  throw new Error(HOW_TO_GET_ETCD);
}

/** Processes still running, killed if the test run exits without stopping them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    child.kill('SIGKILL');
  }
});

class LocalEtcd implements TestEtcd {
  readonly endpoints: string[];
  readonly #binary: string;
  readonly #dir: string;
  readonly #args: string[];
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(binary: string, dir: string, clientPort: number, peerPort: number) {
    const client = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    this.endpoints = [client];
    this.#binary = binary;
    this.#dir = dir;
    this.#args = [
      ...['--name', 'default', '--data-dir', join(dir, 'data')],
      ...['--listen-client-urls', client, '--advertise-client-urls', client],
      ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
      ...['--initial-cluster', `default=${peer}`],
      ...['--logger', 'zap', '--log-level', 'warn'],
    ];
  }

  static async start(binary: string): Promise<LocalEtcd> {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-etcd-'));
    const [clientPort, peerPort] = await freeLoopbackPorts(2);
    const etcd = new LocalEtcd(binary, dir, clientPort as number, peerPort as number);

    try {
      await etcd.#launch();
      return etcd;
    } catch (error) {
      await etcd.stop();
      throw error;
    }
  }

  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return;
    }

    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.#launch();
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    this.#output = '';
    const child = spawn(this.#binary, this.#args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));

    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);

    await this.#waitHealthy(child);
  }

  async #waitHealthy(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const url = `${this.endpoints[0]}/health`;

    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`etcd exited while starting:\n${this.#output}`);
      }
      if (await isHealthy(url)) {
        return;
      }
      await sleep(100);
    }

    throw new Error(`etcd did not become healthy within ${START_TIMEOUT_MS} ms:\n${this.#output}`);
  }
}

async function isHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    const body = (await response.json()) as { health?: string };
    return response.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/**
 * Different ports free on 127.0.0.1 now, found by letting the kernel pick
 * them while all are held open (picked one at a time, one may repeat).
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            resolve(typeof address === 'object' && address !== null ? address.port : 0);
          });
        }),
    ),
  );

  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') {
      continue;
    }

    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }

  return undefined;
}

/** An etcd container when a Docker engine answers, otherwise undefined. */
async function startContainerEtcd(): Promise<TestEtcd | undefined> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined;
  }

  const container = await new GenericContainer(ETCD_IMAGE)
    .withExposedPorts(2379)
    .withCommand([
      ...['etcd', '--name', 'default', '--data-dir', '/etcd-data'],
      ...['--listen-client-urls', 'http://0.0.0.0:2379'],
      ...['--advertise-client-urls', 'http://127.0.0.1:2379'],
      ...['--listen-peer-urls', 'http://0.0.0.0:2380'],
      ...['--initial-advertise-peer-urls', 'http://127.0.0.1:2380'],
      ...['--initial-cluster', 'default=http://127.0.0.1:2380'],
    ])
    .withWaitStrategy(Wait.forHttp('/health', 2379).forStatusCode(200))
    .withStartupTimeout(START_TIMEOUT_MS * 3)
    .start();

  const endpoint = `http://${container.getHost()}:${container.getMappedPort(2379)}`;
  return { endpoints: [endpoint], stop: async () => void (await container.stop()) };
}
