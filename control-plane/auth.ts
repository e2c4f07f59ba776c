/**
 * Admin API access: the client address must be in the allow-list, and the
 * `X-API-KEY` header must hold a configured key. `viewer` keys may only read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { Context, Next } from 'koa';

import type { AdminKey } from '../shared/config.js';
import { ApiError } from '../shared/errors.js';
import { buildAddressList, inAddressList } from '../shared/net.js';

const READ_METHODS = new Set(['GET', 'HEAD']);

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

/** The key from the X-API-KEY header, or APISIX's alternatives: `?api_key=` and the `x_api_key` cookie. */
function presentedKey(ctx: Context): string {
  const header = ctx.get('x-api-key');
  if (header !== '') {
    return header;
  }
  const query = ctx.query.api_key;
  if (typeof query === 'string' && query !== '') {
    return query;
  }
  return ctx.cookies.get('x_api_key') ?? '';
}

export function adminAuth(keys: readonly AdminKey[], allow: readonly string[]) {
  const allowList = buildAddressList(allow);
  const hashed = keys.map((entry) => ({ key: digest(entry.key), entry }));

  return async function checkAccess(ctx: Context, next: Next): Promise<void> {
    if (!inAddressList(allowList, ctx.req.socket?.remoteAddress ?? '')) {
      throw new ApiError('ADMIN_ADDRESS_FORBIDDEN');
    }
    const entry = matchKey(hashed, presentedKey(ctx));
    if (!entry) {
      throw new ApiError('ADMIN_KEY_INVALID');
    }
    ctx.state.keyName = entry.name;
    ctx.state.keyRole = entry.role;
    if (entry.role === 'viewer' && !READ_METHODS.has(ctx.method)) {
      throw new ApiError('ADMIN_ROLE_FORBIDDEN');
    }
    await next();
  };
}
