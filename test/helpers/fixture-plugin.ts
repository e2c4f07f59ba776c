/**
 * A plugin that exists only in tests: it tags the upstream request with its
 * configured value (and the claims jwt-auth stored, if any), or throws when
 * told to, so tests can see plugin order, merging and failure handling on
 * real traffic.
 */
import { getPlugin, registerPlugin } from '../../shared/plugins/index.js';
import { registerRuntime } from '../../data-plane/plugins/index.js';
import { JWT_PAYLOAD_VAR } from '../../data-plane/plugins/jwt-auth.js';

export const FIXTURE_PLUGIN = 'test-tag';

export function registerFixturePlugin(): void {
  if (getPlugin(FIXTURE_PLUGIN)) {
    return;
  }
  registerPlugin({
    name: FIXTURE_PLUGIN,
    priority: 100,
    version: '0.1',
    schema: {
      type: 'object',
      properties: { tag: { type: 'string' }, fail: { type: 'boolean' } },
      additionalProperties: false,
    },
    consumerSchema: {
      type: 'object',
      properties: { tag: { type: 'string' } },
      additionalProperties: false,
    },
  });
  registerRuntime({
    name: FIXTURE_PLUGIN,
    rewrite(ctx, conf) {
      if (conf.fail === true) {
        throw new Error('fixture plugin failure');
      }
      ctx.upstreamHeaders['x-tag'] = String(conf.tag);
      const claims = ctx.vars.get(JWT_PAYLOAD_VAR);
      if (claims !== undefined) {
        ctx.upstreamHeaders['x-jwt-claims'] = JSON.stringify(claims);
      }
    },
  });
}
