/**
 * The control plane's status listener for orchestrators: `GET /healthz`
 * while the process runs, `GET /readyz` only while the config store answers
 * (an Admin API that cannot write is not ready), `GET /status` with the
 * store's kind and revision.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import type { ListenAddress } from '../shared/config.js';
import { listen } from '../shared/listen.js';
import type { ConfigStore } from '../shared/store/types.js';

export function startStatusListener(store: ConfigStore, address: ListenAddress): Promise<Server> {
  return listen((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      reply(200, { status: 'alive' });
      return;
    }
    if (path !== '/readyz' && path !== '/status') {
      reply(404, { error_msg: 'not found' });
      return;
    }
    store.revision().then(
      (revision) =>
        reply(200, path === '/readyz' ? { status: 'ready' } : { store: store.kind, revision }),
      () => reply(503, { status: 'not ready', reason: 'config store unreachable' }),
    );
  }, address);
}
