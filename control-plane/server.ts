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
  // Keys were configured, so none was generated, but only viewer keys: a
  // deliberate read-only Admin API is allowed, yet it must not go unnoticed.
  if (!keys.some((k) => k.role === 'admin')) {
    logger.warn(
      'only viewer keys are configured: the Admin API is read-only, every write will be ' +
        'refused until an admin key is set',
      {
        setting: 'TOLLGATE_ADMIN_KEY or an admin.keys entry with role: admin',
        viewer_keys: keys.map((k) => k.name),
      },
    );
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
