import { checkPasswordHash, PASSWORD_HASH_PATTERN } from '../password-hash.js';
import type { PluginDescriptor } from './types.js';

/**
 * password-login: a route where a consumer trades its username (or email)
 * and password for a jwt-auth token. On a consumer it holds the password
 * hash, which is encrypted at rest and never shown by the Admin API.
 *
 * It is an `auth` plugin so that the consumer side is never merged into the
 * plugins of a route the consumer calls.
 */
export const passwordLogin: PluginDescriptor = {
  name: 'password-login',
  priority: 2540,
  version: '0.1',
  type: 'auth',
  schema: {
    type: 'object',
    properties: {
      max_failures: { type: 'integer', minimum: 1, default: 5 },
      window_seconds: { type: 'integer', minimum: 1, default: 900 },
      lock_seconds: { type: 'integer', minimum: 1, default: 900 },
    },
    additionalProperties: false,
  },
  consumerSchema: {
    type: 'object',
    properties: {
      password_hash: { type: 'string', maxLength: 512, pattern: PASSWORD_HASH_PATTERN },
    },
    required: ['password_hash'],
    additionalProperties: false,
  },
  encryptFields: ['password_hash'],
  hiddenFields: ['password_hash'],
  checkConsumer(conf) {
    const why = checkPasswordHash(String(conf.password_hash));
    return why === undefined ? undefined : `property "password_hash" is ${why}`;
  },
};
