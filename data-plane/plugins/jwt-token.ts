/**
 * From a token to the consumer it belongs to, as jwt-auth and jwt-logout
 * both need it: decode, find the consumer by the key claim, verify with the
 * consumer's own algorithm and key, check `exp`/`nbf`, and refuse tokens
 * revoked by a logout. Failures carry APISIX's client message and the
 * reason for the log.
 */
import { sha256Hex } from '../../shared/keys.js';
import type { AccountIndex } from '../account-index.js';
import type { ConfigState, Stored } from '../state.js';
import type { ConsumerValue } from '../types.js';
import { checkClaims, decodeJwt, verifySignature } from './jwt-verify.js';
import type { DecodedJwt, JwtCredential } from './jwt-verify.js';

export const JWT_PLUGIN = 'jwt-auth';

export const JWT_MESSAGES = {
  missing: 'Missing JWT token in request',
  invalid: 'JWT token invalid',
  noKey: 'missing user key in JWT token',
  unknownKey: 'Invalid user key in JWT token',
  failed: 'failed to verify jwt',
} as const;

export interface TokenOptions {
  keyClaimName: string;
  claimsToVerify?: readonly string[];
}

export type TokenCheck =
  | { ok: true; consumer: Stored<ConsumerValue>; jwt: DecodedJwt; credential: JwtCredential }
  | { ok: false; message: string; reason: string; consumer?: string };

/** The token of an Authorization-style header value, `Bearer ` optional. */
export function bearerToken(value: string): string {
  return value.replace(/^bearer\s+/i, '').trim();
}

export function authenticateToken(
  token: string,
  state: ConfigState,
  options: TokenOptions,
): TokenCheck {
  const jwt = decodeJwt(token);
  if (!jwt) {
    return { ok: false, message: JWT_MESSAGES.invalid, reason: 'not a compact JWS' };
  }
  const key = jwt.payload[options.keyClaimName];
  if (typeof key !== 'string' || key === '') {
    const reason = `no "${options.keyClaimName}" claim`;
    return { ok: false, message: JWT_MESSAGES.noKey, reason };
  }
  const consumer = state.consumersByKey.get(JWT_PLUGIN)?.get(key);
  const credential = consumer?.value.plugins?.[JWT_PLUGIN] as JwtCredential | undefined;
  if (!consumer || !credential) {
    return { ok: false, message: JWT_MESSAGES.unknownKey, reason: 'no consumer with this key' };
  }

  const why = verify(jwt, credential, options) ?? revoked(jwt, consumer, state.accounts);
  if (why !== undefined) {
    return { ok: false, message: JWT_MESSAGES.failed, reason: why, consumer: consumer.id };
  }
  return { ok: true, consumer, jwt, credential };
}

function verify(
  jwt: DecodedJwt,
  credential: JwtCredential,
  options: TokenOptions,
): string | undefined {
  const algorithm = credential.algorithm ?? 'HS256';
  if (jwt.header.alg !== algorithm) {
    return `algorithm ${String(jwt.header.alg)} is not the consumer's ${algorithm}`;
  }
  if (!verifySignature(jwt, credential)) {
    return 'bad signature';
  }
  const now = Math.floor(Date.now() / 1000);
  return checkClaims(
    jwt.payload,
    now,
    credential.lifetime_grace_period ?? 0,
    options.claimsToVerify,
  );
}

/** What a logout revokes a token by: its `jti`, or the hash of the whole token without one. */
export function tokenId(jwt: DecodedJwt): string {
  const jti = jwt.payload.jti;
  return typeof jti === 'string' && /^[A-Za-z0-9._~-]{1,128}$/.test(jti) ? jti : sha256Hex(jwt.raw);
}

/** `revoked` when a logout revoked this token or every token of the consumer up to its `iat`. */
function revoked(
  jwt: DecodedJwt,
  consumer: Stored<ConsumerValue>,
  accounts: AccountIndex,
): string | undefined {
  // The entry names the consumer, so a token of another consumer that happens
  // to carry the same jti is not affected.
  if (accounts.revoked.has(`${consumer.value.username}/${tokenId(jwt)}`)) {
    return 'revoked';
  }
  const before = accounts.revokedBefore.get(consumer.value.username);
  const iat = jwt.payload.iat;
  if (before !== undefined && (typeof iat !== 'number' || iat <= before)) {
    return 'revoked';
  }
  return undefined;
}
