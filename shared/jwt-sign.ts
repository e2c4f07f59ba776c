/**
 * Signs tokens for a jwt-auth consumer with jose, as the sign endpoint and
 * password login hand them out: the consumer's algorithm and key, its `key`
 * claim, `exp` after the consumer's lifetime, and a `jti` so a single token
 * can be revoked.
 */
import { randomUUID } from 'node:crypto';

import { importPKCS8, SignJWT } from 'jose';

export interface SigningCredential {
  key: string;
  algorithm?: string;
  secret?: string;
  private_key?: string;
  base64_secret?: boolean;
  /** Token lifetime in seconds. */
  exp?: number;
}

export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}

/** Claims the caller may not set: the gateway decides who and for how long. */
const RESERVED = new Set(['key', 'exp', 'iat', 'nbf', 'jti']);

export async function signToken(
  credential: SigningCredential,
  extra: Record<string, unknown> = {},
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<{ token: string; expiresIn: number }> {
  const algorithm = credential.algorithm ?? 'HS256';
  const expiresIn = credential.exp ?? 86400;
  const claims = Object.fromEntries(Object.entries(extra).filter(([k]) => !RESERVED.has(k)));

  const jwt = new SignJWT({ ...claims, key: credential.key })
    .setProtectedHeader({ alg: algorithm, typ: 'JWT' })
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + expiresIn)
    .setJti(randomUUID());
  return { token: await jwt.sign(await signingKey(credential, algorithm)), expiresIn };
}

async function signingKey(c: SigningCredential, algorithm: string) {
  if (algorithm.startsWith('HS')) {
    if (c.secret === undefined) {
      throw new SigningError('the consumer has no secret to sign with');
    }
    return Buffer.from(c.secret, c.base64_secret === true ? 'base64' : 'utf8');
  }
  if (c.private_key === undefined) {
    throw new SigningError(`the consumer has no private_key to sign ${algorithm} tokens with`);
  }
  try {
    return await importPKCS8(c.private_key, algorithm);
  } catch {
    throw new SigningError('the consumer private_key is not a PKCS#8 PEM key for its algorithm');
  }
}
