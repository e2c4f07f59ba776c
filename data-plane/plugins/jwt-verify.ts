/**
 * JWS compact tokens verified with node:crypto directly.
 *
 * This is the request path of every jwt-auth route, so it avoids the general
 * JOSE machinery: one base64url decode of header and payload, one HMAC or
 * signature check with key material prepared once per consumer version.
 * docs/benchmarks.md compares it with jose on the same tokens.
 */
import { constants, createHmac, createPublicKey, timingSafeEqual, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

type Obj = Record<string, unknown>;

export interface DecodedJwt {
  /** The token as received. */
  raw: string;
  header: Obj;
  payload: Obj;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: string;
  signature: Buffer;
}

/** The consumer-side jwt-auth configuration, after validation and decryption. */
export interface JwtCredential {
  algorithm?: string;
  secret?: string;
  public_key?: string;
  base64_secret?: boolean;
  lifetime_grace_period?: number;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Splits and decodes a compact JWS; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) {
    return undefined;
  }
  const [h = '', p = '', s = ''] = parts;
  const header = decodeJson(h);
  const payload = decodeJson(p);
  // No extension is understood here, so a token that marks one critical is refused.
  if (!header || !payload || typeof header.alg !== 'string' || header.crit !== undefined) {
    return undefined;
  }
  const signature = Buffer.from(s, 'base64url');
  // One token, one spelling: unused trailing bits must be zero.
  if (signature.toString('base64url') !== s) {
    return undefined;
  }
  return {
    raw: token,
    header,
    payload,
    signingInput: `${h}.${p}`,
    signature,
  };
}

function decodeJson(part: string): Obj | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Obj)
      : undefined;
  } catch {
    return undefined;
  }
}

type Verifier = (input: string, signature: Buffer) => boolean;

// Key material per credential object: a consumer change brings a new object.
const verifiers = new WeakMap<JwtCredential, Verifier>();

/**
 * Tokens whose asymmetric signature already verified, with the credential
 * object they verified under. A consumer change replaces that object, so the
 * entry no longer matches and the token is verified afresh. Claims are
 * checked on every request regardless; only the signature work is saved.
 * HMAC tokens are not cached: recomputing an HMAC costs less than keeping
 * the cache (docs/benchmarks.md).
 */
const verified = new Map<string, JwtCredential>();
const VERIFIED_MAX = 10_000;

/** Checks the signature with the consumer's own algorithm and key only. */
export function verifySignature(jwt: DecodedJwt, credential: JwtCredential): boolean {
  if (verified.get(jwt.raw) === credential) {
    return true;
  }
  let check = verifiers.get(credential);
  if (!check) {
    check = buildVerifier(credential);
    verifiers.set(credential, check);
  }
  if (!check(jwt.signingInput, jwt.signature)) {
    return false;
  }
  if (credential.algorithm === undefined || credential.algorithm.startsWith('HS')) {
    return true;
  }
  if (verified.size >= VERIFIED_MAX) {
    // Oldest first: Map keeps insertion order.
    verified.delete(verified.keys().next().value as string);
  }
  verified.set(jwt.raw, credential);
  return true;
}

function buildVerifier(c: JwtCredential): Verifier {
  const alg = c.algorithm ?? 'HS256';
  const bits = alg === 'EdDSA' ? '' : alg.slice(2);
  const hash = `sha${bits}`;

  if (alg.startsWith('HS')) {
    const secret = Buffer.from(c.secret ?? '', c.base64_secret === true ? 'base64' : 'utf8');
    if (secret.length === 0) {
      // Validation refuses such a consumer; never verify with an empty key regardless.
      return () => false;
    }
    return (input, signature) => {
      const expected = createHmac(hash, secret).update(input).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    };
  }
  const key = publicKey(c.public_key);
  if (!key) {
    return () => false;
  }
  if (alg === 'EdDSA') {
    return (input, signature) => verify(null, Buffer.from(input), key, signature);
  }
  if (alg.startsWith('PS')) {
    const options = {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    };
    return (input, signature) => verify(hash, Buffer.from(input), options, signature);
  }
  if (alg.startsWith('ES')) {
    const options = { key, dsaEncoding: 'ieee-p1363' as const };
    return (input, signature) => verify(hash, Buffer.from(input), options, signature);
  }
  return (input, signature) => verify(hash, Buffer.from(input), key, signature);
}

function publicKey(pem: string | undefined): KeyObject | undefined {
  try {
    return pem === undefined ? undefined : createPublicKey(pem);
  } catch {
    return undefined;
  }
}

/**
 * Checks `exp` and `nbf` with the grace period (seconds). Claims named in
 * `required` must be present; others are checked when present. Returns why
 * the token is refused, or undefined.
 */
export function checkClaims(
  payload: Obj,
  nowSeconds: number,
  graceSeconds: number,
  required: readonly string[] = [],
): string | undefined {
  for (const claim of ['exp', 'nbf']) {
    const value = payload[claim];
    if (value === undefined) {
      if (required.includes(claim)) {
        return `claim ${claim} is missing`;
      }
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return `claim ${claim} is not a number`;
    }
    if (claim === 'exp' && nowSeconds >= value + graceSeconds) {
      return 'token expired';
    }
    if (claim === 'nbf' && nowSeconds < value - graceSeconds) {
      return 'token not valid yet';
    }
  }
  return undefined;
}
