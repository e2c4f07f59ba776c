/**
 * One process at a time per data directory: a lock file holding the owner's
 * pid, created exclusively. A lock left by a process that is gone is taken
 * over, so a crash does not leave the directory locked.
 */

import { open, readFile, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';

const LOCK_FILE = 'LOCK';

/** Directories this process holds, by real path: a pid check cannot tell these apart. */
const heldHere = new Set<string>();

export class DataDirLock {
  readonly #dir: string;
  readonly #path: string;
  #released = false;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#path = join(dir, LOCK_FILE);
  }

  /** Takes the lock of an existing directory or fails with an error naming the holder. */
  static async acquire(dir: string): Promise<DataDirLock> {
    const real = await realpath(dir);
    if (heldHere.has(real)) {
      throw new Error(`data dir ${dir} is already open in this process`);
    }

    // Claimed before the first await, so two opens in this process cannot both pass.
    heldHere.add(real);
    const lock = new DataDirLock(real);
    try {
      await lock.#take(dir);
      return lock;
    } catch (error) {
      heldHere.delete(real);
      throw error;
    }
  }

  async release(): Promise<void> {
    if (this.#released) {
      return;
    }

    this.#released = true;
    heldHere.delete(this.#dir);
    await rm(this.#path, { force: true });
  }

  async #take(dir: string): Promise<void> {
    if (await this.#tryCreate()) {
      return;
    }

    await this.#removeIfStale();
    if (!(await this.#tryCreate())) {
      throw new Error(`data dir ${dir} is locked by another process (${this.#path})`);
    }
  }

  async #tryCreate(): Promise<boolean> {
    try {
      const file = await open(this.#path, 'wx', 0o600);
      try {
        await file.writeFile(`${process.pid}\n`);
        await file.sync();
      } finally {
        await file.close();
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        return false;
      }
      throw error;
    }
  }

  async #removeIfStale(): Promise<void> {
    const text = await readFile(this.#path, 'utf8').catch(() => '');
    const pid = Number.parseInt(text, 10);

    // Our own pid in the file is a previous life of this process (a container
    // restart reuses pids), since `heldHere` says we do not hold it now.
    if (Number.isSafeInteger(pid) && pid !== process.pid && isAlive(pid)) {
      throw new Error(`data dir ${this.#dir} is in use by process ${pid} (${this.#path})`);
    }

    // Limitation: two processes taking over the same stale lock at once can
    // both succeed; and a dead owner's pid reused by an unrelated process
    // keeps the directory locked until the lock file is removed by hand.
    await rm(this.#path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
