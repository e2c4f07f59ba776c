/**
 * The status listener for orchestrators, apart from the public port:
 * `GET /healthz` (alive), `GET /readyz` (200 only after the first full
 * config sync) and `GET /status` (phase, store revision, object counts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { SyncStatus } from './sync.js';

export type StatusSource = () => SyncStatus & { workers?: number; draining?: boolean };

export function statusHandler(source: StatusSource) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, { error_msg: 'method not allowed' });
      return;
    }
    const status = source();
    switch (path) {
      case '/healthz':
        reply(res, 200, { status: 'alive' });
        return;
      case '/readyz': {
        const ready = status.ready && status.draining !== true;
        reply(res, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          phase: status.phase,
        });
        return;
      }
      case '/status':
        reply(res, 200, status);
        return;
      default:
        reply(res, 404, { error_msg: 'not found' });
    }
  };
}

function reply(res: ServerResponse, status: number, body: object): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(payload);
}
