import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';

import type { ListenAddress } from './config.js';

/** Starts an HTTP server and resolves once it is bound, or rejects with a clear cause. */
export function listen(handler: RequestListener, address: ListenAddress): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(`cannot listen on ${address.host}:${address.port}: ${err.code ?? err.message}`),
      );
    });
    server.listen(address.port, address.host, () => resolve(server));
  });
}
