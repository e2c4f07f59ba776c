#!/usr/bin/env node
/**
 * Entry point: `tollgate all` (Admin API and gateway in one process),
 * `tollgate control-plane` or `tollgate data-plane`.
 */
import { startControlPlane } from '../control-plane/server.js';
import { startStatusListener } from '../control-plane/status.js';
import type { ControlPlane } from '../control-plane/server.js';
import { ConfigError, loadConfig } from '../shared/config.js';
import type { Config } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import type { Logger } from '../shared/logger.js';
import { resolveKeyring } from '../shared/keyring-file.js';
import { openStore } from '../shared/store/index.js';
import { runDataPlane } from '../data-plane/main.js';
import { startDataPlane } from '../data-plane/server.js';

const MODES = ['all', 'control-plane', 'data-plane'] as const;
type Mode = (typeof MODES)[number];

async function main(argv: string[]): Promise<void> {
  const mode = argv[0] ?? 'all';
  if (!(MODES as readonly string[]).includes(mode)) {
    console.error(`usage: tollgate <${MODES.join('|')}>`);
    process.exit(64);
  }

  const config = readConfig();
  const logger = createLogger({ level: config.log.level, defaults: { role: mode } });
  if (mode === 'data-plane') {
    await runDataPlane(config, logger);
    return;
  }
  const store = await openStore(config);
  const keyring = await resolveKeyring(config, logger);
  const admin = await startControlPlane(config, store, logger, keyring);
  const gateway =
    mode === 'all'
      ? await startDataPlane(config, store, logger, { statusListener: true, keyring, role: mode })
      : undefined;
  // In one process the data plane's status listener covers both planes.
  const status = gateway ? undefined : await startStatusListener(store, config.status.listen);
  if (status) {
    const { port } = status.address() as { port: number };
    logger.info('status listening', { host: config.status.listen.host, port });
  }
  announce(admin, config, mode as Mode);
  stopOnSignals(logger, async () => {
    await gateway?.close();
    status?.close();
    status?.closeAllConnections();
    await admin.close();
    await store.close();
  });
}

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`tollgate: ${err.message}`);
      process.exit(78);
    }
    throw err;
  }
}

/** The generated admin key is shown once, on the terminal, never in the log. */
function announce(plane: ControlPlane, config: Config, mode: Mode): void {
  if (plane.generatedKey) {
    console.error(
      `tollgate: no admin key was configured, so one was generated and saved in ` +
        `${plane.generatedKey.file}:\n\n    ${plane.generatedKey.key}\n\n` +
        `Send it as the X-API-KEY header. It is shown only this once.`,
    );
  }
  if (mode === 'all' && config.etcd.endpoints.length === 0) {
    console.error(`tollgate: using the embedded store in ${config.dataDir}`);
  }
}

function stopOnSignals(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info('shutting down', { signal });
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('failed to stop cleanly', { error: err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`tollgate: failed to start: ${(err as Error).message}`);
  process.exit(1);
});
