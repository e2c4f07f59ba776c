import type { Server } from 'node:http';

import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { Keyring } from '../shared/secrets.js';
import type { ConfigStore } from '../shared/store/types.js';
import { resolveAdminKeys } from './admin-key.js';
import { createAdminApp } from './app.js';
import { listen } from '../shared/listen.js';

export interface ControlPlane {
  server: Server;
  /** The address actually bound (useful with port 0). */
  port: number;
  /** Present when this start generated the admin key. */
  generatedKey?: { key: string; file: string };
  close(): Promise<void>;
}

export async function startControlPlane(
  config: Config,
  store: ConfigStore,
  logger: Logger,
  keyring: Keyring,
): Promise<ControlPlane> {
  const { keys, generated } = await resolveAdminKeys(config.admin.keys, config.dataDir);
  if (!keys.some((k) => k.role === 'admin')) {
    logger.warn('no admin-role key is configured: the Admin API is read-only', {
      setting: 'TOLLGATE_ADMIN_KEY',
    });
  }
  const app = createAdminApp({
    store,
    logger,
    keys,
    allow: config.admin.allow,
    maxBodyBytes: config.admin.maxBodyBytes,
    keyring,
  });

  const server = await listen(app.callback(), config.admin.listen);
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const port = (server.address() as { port: number }).port;
  logger.info('admin api listening', { host: config.admin.listen.host, port, store: store.kind });

  return {
    server,
    port,
    generatedKey: generated,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
