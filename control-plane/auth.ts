/**
 * Admin API access: the client address must be in the allow-list, and the
 * `X-API-KEY` header must hold a configured key. `viewer` keys may only read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4 } from 'node:net';

import type { Context, Next } from 'koa';

import type { AdminKey } from '../shared/config.js';
import { ApiError } from '../shared/errors.js';

const READ_METHODS = new Set(['GET', 'HEAD']);

export function buildAllowList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr = '', bits = ''] = cidr.split('/');
    list.addSubnet(addr, Number(bits), isIPv4(addr) ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** Strips the IPv4-mapped form (`::ffff:127.0.0.1`) dual-stack sockets report. */
export function plainAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

export function isAllowed(list: BlockList, address: string): boolean {
  const plain = plainAddress(address);
  return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Finds the key matching `given`. Every configured key is compared, in
 * constant time, so the time taken says nothing about which one matched.
 */
export function matchKey(keys: readonly { key: Buffer; entry: AdminKey }[], given: string) {
  const candidate = digest(given);
  let found: AdminKey | undefined;
  for (const { key, entry } of keys) {
    if (timingSafeEqual(key, candidate) && found === undefined) {
      found = entry;
    }
  }
  return found;
}

export function adminAuth(keys: readonly AdminKey[], allow: readonly string[]) {
  const allowList = buildAllowList(allow);
  const hashed = keys.map((entry) => ({ key: digest(entry.key), entry }));

  return async function checkAccess(ctx: Context, next: Next): Promise<void> {
    if (!isAllowed(allowList, ctx.req.socket.remoteAddress ?? '')) {
      throw new ApiError('ADMIN_ADDRESS_FORBIDDEN');
    }
    const entry = matchKey(hashed, ctx.get('x-api-key'));
    if (!entry) {
      throw new ApiError('ADMIN_KEY_INVALID');
    }
    ctx.state.keyName = entry.name;
    if (entry.role === 'viewer' && !READ_METHODS.has(ctx.method)) {
      throw new ApiError('ADMIN_ROLE_FORBIDDEN');
    }
    await next();
  };
}
