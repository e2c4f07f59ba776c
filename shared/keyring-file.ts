/**
 * Where the keyring for secrets at rest comes from: the configured keys when
 * there are any; on the embedded store, a key generated once and kept in the
 * data directory (the data never leaves this machine, and neither does the
 * key); on etcd without configured keys, no encryption and a warning, since
 * every node must share the same keys and only the operator can hand them out.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { Keyring, parseKeyring } from './secrets.js';

export const KEYRING_FILE = 'keyring';

export async function resolveKeyring(config: Config, logger: Logger): Promise<Keyring> {
  if (config.keyring.length > 0) {
    return new Keyring(config.keyring);
  }
  if (config.etcd.endpoints.length > 0) {
    logger.warn('no secrets.keyring configured: consumer secrets are stored in etcd unencrypted', {
      setting: 'TOLLGATE_KEYRING',
    });
    return new Keyring([]);
  }
  return new Keyring(parseKeyring(await readOrCreate(join(config.dataDir, KEYRING_FILE))));
}

async function readOrCreate(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw err;
    }
  }
  const entry = `local1:${randomBytes(32).toString('base64')}`;
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${entry}\n`, { mode: 0o600, flag: 'wx' });
  await rename(tmp, file);
  return entry;
}
