/**
 * Header rules at the proxy boundary: hop-by-hop headers stop here in both
 * directions, and the X-Forwarded-* and X-Real-IP headers say who the client
 * is. Incoming forwarding headers are believed only from trusted proxies.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { BlockList } from 'node:net';

import { inAddressList, plainAddress } from '../shared/net.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Copies headers minus hop-by-hop ones, `Proxy-*`, and any that `Connection` names. */
export function endToEndHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (
      value === undefined ||
      HOP_BY_HOP.has(name) ||
      name.startsWith('proxy-') ||
      named?.has(name)
    ) {
      continue;
    }
    out[name] = value;
  }
  return out;
}

function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined) {
    return undefined;
  }
  return new Set(value.split(',').map((t) => t.trim().toLowerCase()));
}

export interface ClientInfo {
  ip: string;
  proto: string;
  host: string;
}

/**
 * Works out the client address. From an untrusted peer, the peer is the
 * client and its forwarding headers are ignored. From a trusted proxy, the
 * X-Forwarded-For chain is walked from the right, skipping trusted hops, and
 * the first untrusted address is the client.
 */
export function clientInfo(
  headers: IncomingHttpHeaders,
  peer: string,
  trusted: BlockList | undefined,
): ClientInfo {
  const direct = { ip: plainAddress(peer), proto: 'http', host: headers.host ?? '' };
  if (!trusted || !inAddressList(trusted, peer)) {
    return direct;
  }
  const chain = String(headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  let ip = direct.ip;
  for (let i = chain.length - 1; i >= 0; i--) {
    ip = chain[i] ?? ip;
    if (!inAddressList(trusted, ip)) {
      break;
    }
  }
  const realIp = chain.length === 0 ? headers['x-real-ip'] : undefined;
  return {
    ip: typeof realIp === 'string' && realIp !== '' ? realIp : ip,
    proto: first(headers['x-forwarded-proto']) ?? 'http',
    host: first(headers['x-forwarded-host']) ?? direct.host,
  };
}

function first(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const token = v?.split(',')[0]?.trim();
  return token === '' ? undefined : token;
}

/** Sets the forwarding headers the upstream sees. */
export function setForwardingHeaders(
  out: OutgoingHttpHeaders,
  incoming: IncomingHttpHeaders,
  peer: string,
  client: ClientInfo,
  trustedPeer: boolean,
): void {
  const prior = trustedPeer ? incoming['x-forwarded-for'] : undefined;
  const peerIp = plainAddress(peer);
  out['x-forwarded-for'] = prior ? `${String(prior)}, ${peerIp}` : peerIp;
  out['x-forwarded-proto'] = client.proto;
  out['x-forwarded-host'] = client.host;
  out['x-real-ip'] = client.ip;
}
