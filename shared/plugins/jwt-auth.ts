import { createPrivateKey, createPublicKey } from 'node:crypto';

import type { PluginDescriptor } from './types.js';

function readsAs(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
}

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
] as const;

/** Printable ASCII except `"` and `\`, so the realm can sit in a quoted header parameter. */
const REALM_PATTERN = '^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]+$';

/**
 * jwt-auth: consumers carry a key and a secret (or public key); routes say
 * where the token is found. Tokens are signed and verified with the
 * consumer's algorithm only.
 */
export const jwtAuth: PluginDescriptor = {
  name: 'jwt-auth',
  priority: 2510,
  version: '0.1',
  type: 'auth',
  schema: {
    type: 'object',
    properties: {
      header: { type: 'string', minLength: 1, default: 'authorization' },
      query: { type: 'string', minLength: 1, default: 'jwt' },
      cookie: { type: 'string', minLength: 1, default: 'jwt' },
      hide_credentials: { type: 'boolean', default: false },
      key_claim_name: { type: 'string', minLength: 1, default: 'key' },
      store_in_ctx: { type: 'boolean', default: false },
      realm: {
        type: 'string',
        minLength: 1,
        maxLength: 128,
        pattern: REALM_PATTERN,
        default: 'jwt',
      },
      anonymous_consumer: { type: 'string', minLength: 1 },
      claims_to_verify: {
        type: 'array',
        items: { type: 'string', enum: ['exp', 'nbf'] },
        uniqueItems: true,
      },
    },
    additionalProperties: false,
  },
  consumerSchema: {
    type: 'object',
    properties: {
      key: { type: 'string', minLength: 1, maxLength: 256 },
      secret: { type: 'string', minLength: 1, maxLength: 4096 },
      algorithm: {
        type: 'string',
        enum: [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS],
        default: 'HS256',
      },
      public_key: { type: 'string', minLength: 1, maxLength: 16384 },
      /** Only needed to sign tokens with an asymmetric algorithm (the sign endpoint). */
      private_key: { type: 'string', minLength: 1, maxLength: 16384 },
      exp: { type: 'integer', minimum: 1, default: 86400 },
      base64_secret: { type: 'boolean', default: false },
      lifetime_grace_period: { type: 'integer', minimum: 0, default: 0 },
    },
    required: ['key'],
    additionalProperties: false,
  },
  encryptFields: ['secret', 'private_key'],
  checkConsumer(conf) {
    const algorithm = String(conf.algorithm);
    const isHmac = (HMAC_ALGORITHMS as readonly string[]).includes(algorithm);
    if (!isHmac && conf.public_key === undefined) {
      return `property "public_key" is required when "algorithm" is ${algorithm}`;
    }
    if (!isHmac && !readsAs(() => createPublicKey(String(conf.public_key)))) {
      return 'property "public_key" is not a PEM public key';
    }
    if (
      conf.private_key !== undefined &&
      !readsAs(() => createPrivateKey(String(conf.private_key)))
    ) {
      return 'property "private_key" is not a PEM private key';
    }
    // The Admin API generates a missing secret before validating, so a
    // consumer without one was written by another tool: an empty HMAC key
    // would let anyone sign its tokens.
    if (isHmac && typeof conf.secret !== 'string') {
      return `property "secret" is required when "algorithm" is ${algorithm}`;
    }
    if (conf.base64_secret === true && typeof conf.secret === 'string') {
      const ok = /^[A-Za-z0-9+/_-]+={0,2}$/.test(conf.secret);
      if (!ok || Buffer.from(conf.secret, 'base64').length === 0) {
        return 'property "secret" must be non-empty base64 when "base64_secret" is true';
      }
    }
    return undefined;
  },
};
