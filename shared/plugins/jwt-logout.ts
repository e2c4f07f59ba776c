import type { PluginDescriptor } from './types.js';

/**
 * jwt-logout: a route where a client revokes the jwt-auth token it sends,
 * or (with `{"everywhere": true}`) every token its consumer holds. Every
 * node then refuses the revoked tokens on jwt-auth routes.
 */
export const jwtLogout: PluginDescriptor = {
  name: 'jwt-logout',
  priority: 2535,
  version: '0.1',
  schema: {
    type: 'object',
    properties: {
      key_claim_name: { type: 'string', minLength: 1, default: 'key' },
    },
    additionalProperties: false,
  },
};
