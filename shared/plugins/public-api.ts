import type { PluginDescriptor } from './types.js';

/**
 * Exposes a built-in plugin API (for example the JWT sign endpoint) at the
 * route's URI, or at `uri` when given. Built-in APIs are reachable only
 * through a route that carries this plugin.
 */
export const publicApi: PluginDescriptor = {
  name: 'public-api',
  priority: 501,
  version: '0.1',
  schema: {
    type: 'object',
    properties: {
      uri: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^/' },
    },
    additionalProperties: false,
  },
};
