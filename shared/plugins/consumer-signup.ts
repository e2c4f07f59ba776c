import { HMAC_ALGORITHMS } from './jwt-auth.js';
import type { PluginDescriptor } from './types.js';

/**
 * consumer-signup: a route that lets anyone create a consumer with a
 * password (password-login) and a jwt-auth credential. The data plane
 * writes the consumer itself; see data-plane/plugins/consumer-signup.ts.
 * The new consumer gets nothing but those two plugins: `jwt` is a fixed
 * template set by the operator, never by the request.
 */
export const consumerSignup: PluginDescriptor = {
  name: 'consumer-signup',
  priority: 2545,
  version: '0.1',
  schema: {
    type: 'object',
    properties: {
      key_from: { type: 'string', enum: ['email', 'username'], default: 'email' },
      min_password_length: { type: 'integer', minimum: 8, maximum: 256, default: 10 },
      jwt: {
        type: 'object',
        properties: {
          exp: { type: 'integer', minimum: 60 },
          algorithm: { type: 'string', enum: [...HMAC_ALGORITHMS] },
        },
        additionalProperties: false,
        default: {},
      },
      rate_limit: {
        type: 'object',
        properties: {
          count: { type: 'integer', minimum: 1, default: 5 },
          window_seconds: { type: 'integer', minimum: 1, default: 3600 },
        },
        additionalProperties: false,
        default: {},
      },
    },
    additionalProperties: false,
  },
};
