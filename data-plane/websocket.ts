/**
 * Upgrade requests (websockets). They pass only on routes with
 * `enable_websocket`; plugins run on the handshake as on any request, and
 * once the upstream agrees to upgrade, bytes flow both ways untouched.
 */
import { request as httpRequest, ServerResponse } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

import type { RequestContext } from './context.js';
import { endToEndHeaders } from './headers.js';
import { DEFAULT_TIMEOUT } from './proxy.js';

/** A response object writing to the raw socket, so plugins can answer the handshake. */
export function responseForUpgrade(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket as never);
  res.shouldKeepAlive = false;
  res.on('finish', () => socket.end());
  return res;
}

/** An upgrade request carrying a body cannot be forwarded: the body is not read before the 101. */
export function hasBody(ctx: RequestContext): boolean {
  const length = ctx.req.headers['content-length'];
  return (
    (length !== undefined && length !== '0') || ctx.req.headers['transfer-encoding'] !== undefined
  );
}

/** Connects to one upstream node and splices the two sockets after its 101 answer. */
export function proxyUpgrade(ctx: RequestContext, socket: Duplex, head: Buffer): void {
  const upstream = ctx.resolved.upstream;
  const node = upstream?.balancer.pick({});
  if (!upstream || !node) {
    ctx.respond(502, { error_msg: 'bad gateway: no upstream node for the upgrade' });
    return;
  }
  ctx.upstreamAddr = node.id;
  const https = upstream.value.scheme === 'https';
  const path =
    ctx.upstreamQuery === '' ? ctx.upstreamPath : `${ctx.upstreamPath}?${ctx.upstreamQuery}`;
  const proxyReq = (https ? httpsRequest : httpRequest)({
    host: node.host,
    port: node.port,
    method: ctx.req.method,
    path,
    headers: {
      ...ctx.upstreamHeaders,
      host: ctx.req.headers.host ?? node.id,
      connection: 'Upgrade',
      upgrade: ctx.req.headers.upgrade ?? 'websocket',
    },
  });

  proxyReq.on('upgrade', (proxyRes, proxySocket, proxyHead) => {
    ctx.status = 101;
    const lines = [`HTTP/1.1 101 ${proxyRes.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < proxyRes.rawHeaders.length; i += 2) {
      lines.push(`${proxyRes.rawHeaders[i] ?? ''}: ${proxyRes.rawHeaders[i + 1] ?? ''}`);
    }
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (proxyHead.length > 0) {
      socket.write(proxyHead);
    }
    if (head.length > 0) {
      proxySocket.write(head);
    }
    proxySocket.pipe(socket).pipe(proxySocket);
    proxySocket.on('error', () => socket.destroy());
    socket.on('error', () => proxySocket.destroy());
    socket.on('close', () => proxySocket.destroy());
    proxySocket.on('close', () => socket.destroy());
  });
  // Until the upstream answers the handshake, the route's timeouts apply.
  const timeout = {
    ...DEFAULT_TIMEOUT,
    ...ctx.resolved.route.value.timeout,
    ...upstream.value.timeout,
  };
  const timer = setTimeout(
    () => {
      proxyReq.destroy();
      ctx.respond(504, { error_msg: 'gateway timeout: the upstream did not answer in time' });
    },
    (timeout.connect + timeout.read) * 1000,
  );
  proxyReq.on('upgrade', () => clearTimeout(timer));
  proxyReq.on('response', (proxyRes) => {
    // The upstream declined to upgrade: relay its answer and close.
    clearTimeout(timer);
    ctx.status = proxyRes.statusCode ?? 502;
    ctx.res.writeHead(ctx.status, endToEndHeaders(proxyRes.headers));
    proxyRes.pipe(ctx.res);
  });
  proxyReq.on('error', () => {
    clearTimeout(timer);
    ctx.respond(502, { error_msg: 'bad gateway: the upstream could not be reached' });
  });
  proxyReq.end();
}
