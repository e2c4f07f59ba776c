/**
 * The bench's processes and scratch space: every child is started through a
 * Lab, logs to a file in the Lab's temp dir, and is killed (and the dir
 * removed) when the Lab closes, when the bench exits, or on SIGINT/SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SpawnOptions {
  /** CPU list for `taskset -c`; unset runs on every core. */
  cpus?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** The end of the child's log, for error messages. */
  tail(): string;
}

const STOP_GRACE_MS = 3_000;
const TAIL_CHARS = 2_000;

const labs = new Set<Lab>();
/** Short-lived helpers (load generators) that are not a Lab's servers. */
const helpers = new Set<ChildProcess>();
let handlersInstalled = false;

/** Kills `proc` if it is still running when the bench exits. */
export function killOnExit(proc: ChildProcess): void {
  installExitHandlers();
  helpers.add(proc);
  proc.once('exit', () => helpers.delete(proc));
}

export class Lab {
  readonly dir: string;
  readonly #children = new Set<Child>();
  readonly #cleanups: (() => Promise<void>)[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  static create(): Lab {
    installExitHandlers();
    const lab = new Lab(mkdtempSync(join(tmpdir(), 'tollgate-bench-')));
    labs.add(lab);
    return lab;
  }

  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): Child {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const [file, argv] =
      options.cpus === undefined
        ? [command, args]
        : ['taskset', ['-c', options.cpus, command, ...args]];
    const proc = spawn(file, argv, {
      cwd: options.cwd ?? this.dir,
      env: options.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    if (proc.pid === undefined) {
      throw new Error(`failed to start ${name}: ${command} did not start`);
    }

    const child: Child = {
      name,
      proc,
      pid: proc.pid,
      logFile,
      tail: () => readTail(logFile),
    };
    this.#children.add(child);
    proc.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL after a grace period. */
  async stop(child: Child): Promise<void> {
    const { proc } = child;
    if (proc.exitCode !== null || proc.signalCode !== null) {
      this.#children.delete(child);
      return;
    }
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  /** Runs `cleanup` when the Lab closes, before its children are stopped. */
  onClose(cleanup: () => Promise<void>): void {
    this.#cleanups.push(cleanup);
  }

  async close(): Promise<void> {
    const cleanups = this.#cleanups.splice(0);
    await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
    await Promise.all([...this.#children].map((child) => this.stop(child)));
    rmSync(this.dir, { recursive: true, force: true });
    labs.delete(this);
  }

  /** Synchronous last resort for process exit: no waiting is possible there. */
  killAllNow(): void {
    for (const child of this.#children) {
      child.proc.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) {
    return;
  }
  handlersInstalled = true;
  process.once('exit', () => {
    for (const proc of helpers) {
      proc.kill('SIGKILL');
    }
    for (const lab of labs) {
      lab.killAllNow();
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench: ${signal}, stopping everything it started`);
      void Promise.all([...labs].map((lab) => lab.close())).finally(() => process.exit(130));
    });
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-TAIL_CHARS);
  } catch {
    return '';
  }
}

/** A port free on 127.0.0.1 now, picked by the kernel. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port as number;
}

/**
 * `count` different ports free on 127.0.0.1 now. They are held open until
 * all are picked: picked one at a time, the kernel may hand out one twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    const ports: number[] = [];
    for (const server of servers) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const address = server.address();
      if (typeof address !== 'object' || address === null) {
        throw new Error('failed to pick a free port');
      }
      ports.push(address.port);
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map((server) => new Promise((resolve) => server.close(() => resolve(undefined)))),
    );
  }
}

/** Polls `check` until it answers true; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  child?: Child,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child !== undefined && hasExited(child)) {
      throw new Error(`${child.name} exited while waiting for ${what}:\n${child.tail()}`);
    }
    if (await check().catch(() => false)) {
      return;
    }
    await sleep(50);
  }
  const log = child === undefined ? '' : `:\n${child.tail()}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${log}`);
}

function hasExited(child: Child): boolean {
  return child.proc.exitCode !== null || child.proc.signalCode !== null;
}

/** Resident memory of a process in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (match === null) {
    throw new Error(`no VmRSS in /proc/${pid}/status`);
  }
  return Number(match[1]) / 1024;
}
