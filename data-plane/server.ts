/**
 * One data-plane node: config sync, the public gateway listener, and
 * (unless a cluster primary owns it) the status listener.
 */
import { createServer } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import type { Config, ListenAddress } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { buildAddressList } from '../shared/net.js';
import type { Keyring } from '../shared/secrets.js';
import type { ConfigStore } from '../shared/store/types.js';
import { startAccessLog } from './access-log.js';
import { Gateway } from './gateway.js';
import { statusHandler } from './status.js';
import { ConfigSync } from './sync.js';

export interface DataPlane {
  sync: ConfigSync;
  port: number;
  statusPort?: number;
  /** Stops accepting, waits up to `drainMs` for requests in flight, then closes. */
  close(drainMs?: number): Promise<void>;
}

export interface DataPlaneOptions {
  /** Open the status listener here (false in cluster workers: the primary has it). */
  statusListener: boolean;
  /** Opens consumer secrets sealed by the control plane. */
  keyring: Keyring;
  role?: string;
}

export async function startDataPlane(
  config: Config,
  store: ConfigStore,
  logger: Logger,
  options: DataPlaneOptions,
): Promise<DataPlane> {
  const sync = new ConfigSync(store, logger, options.keyring);
  sync.start();

  const trusted = config.gateway.trustedProxies;
  const gateway = new Gateway(
    sync,
    { store, keyring: options.keyring, logger },
    {
      trustedProxies: trusted.length > 0 ? buildAddressList(trusted) : undefined,
    },
  );
  const accessLog = startAccessLog(config.accessLog, options.role ?? 'data-plane', logger);
  const tracker = new InFlight();
  const server = createServer(
    {
      maxHeaderSize: config.gateway.maxHeaderBytes,
      headersTimeout: config.gateway.headersTimeoutMs,
      requestTimeout: config.gateway.requestTimeoutMs,
      keepAliveTimeout: config.gateway.idleTimeoutMs,
      // How often the header and request deadlines are checked.
      connectionsCheckingInterval: Math.min(1000, config.gateway.headersTimeoutMs),
    },
    tracker.wrap(gateway.handle),
  );
  server.timeout = config.gateway.idleTimeoutMs;
  server.on('upgrade', gateway.handleUpgrade);
  // Without this Node answers `100 Continue` at once, before routing and
  // auth; the proxy sends it when it is ready for the body.
  server.on('checkContinue', tracker.wrap(gateway.handle));
  server.on('connect', (_req, socket: Duplex) => {
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  let draining = false;
  const status = options.statusListener
    ? createServer(statusHandler(() => ({ ...sync.status(), draining })))
    : undefined;
  if (status) {
    await bind(status, config.status.listen);
    logger.info('status listening', { host: config.status.listen.host, port: portOf(status) });
  }
  // A node without its config would answer 404 to everything: until the
  // first full sync, connections are refused and clients try another node.
  await sync.whenReady();
  await bind(server, config.gateway.listen);
  const port = portOf(server);
  logger.info('gateway listening', { host: config.gateway.listen.host, port });

  return {
    sync,
    port,
    statusPort: status ? portOf(status) : undefined,
    close: async (drainMs = config.gateway.drainMs) => {
      draining = true;
      tracker.draining = true;
      // Connections the kernel completed but Node has not accepted yet are
      // reset when the listener closes; one turn of the event loop accepts
      // them first, which leaves only a window of microseconds.
      await new Promise((resolve) => setImmediate(resolve));
      // Stop accepting, but leave open connections alone for now: http's own
      // close() would also drop connections accepted a moment ago whose
      // first request is still on its way.
      Reflect.apply(NetServer.prototype.close, server, []);
      await sleep(Math.min(drainMs, FIRST_REQUEST_GRACE_MS));
      // Answers from here on say `Connection: close`; idle keep-alive
      // connections can go now.
      server.closeIdleConnections();
      await tracker.idle(drainMs);
      server.closeAllConnections();
      status?.close();
      status?.closeAllConnections();
      gateway.pools.destroy();
      await accessLog?.close();
      await sync.stop();
    },
  };
}

/** How long a connection accepted just before shutdown has to send its request. */
const FIRST_REQUEST_GRACE_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Counts requests in flight so shutdown can wait for them. */
class InFlight {
  draining = false;
  #count = 0;
  #waiters: (() => void)[] = [];

  wrap(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    return (req: IncomingMessage, res: ServerResponse): void => {
      this.#count++;
      if (this.draining) {
        res.setHeader('connection', 'close');
      }
      res.once('close', () => {
        this.#count--;
        if (this.#count === 0) {
          this.#waiters.splice(0).forEach((w) => w());
        }
      });
      handler(req, res);
    };
  }

  idle(timeoutMs: number): Promise<void> {
    if (this.#count === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function bind(server: Server, address: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(`cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`),
      ),
    );
    server.listen(address.port, address.host, () => resolve());
  });
}

function portOf(server: Server): number {
  return (server.address() as { port: number }).port;
}
