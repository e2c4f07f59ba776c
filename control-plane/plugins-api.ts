/**
 * The plugin catalogue at APISIX's Admin API paths:
 * `GET /plugins/list`, `GET /plugins/{name}` (`?schema_type=consumer` for
 * the consumer-side schema) and `GET /plugins?all=true`.
 */
import type Router from '@koa/router';

import { ApiError } from '../shared/errors.js';
import { getPlugin, pluginNames } from '../shared/plugins/index.js';

export function pluginRoutes(router: Router): void {
  router.get('/plugins/list', (ctx) => {
    ctx.body = pluginNames();
  });

  router.get('/plugins', (ctx) => {
    if (ctx.query.all !== 'true') {
      throw new ApiError('RESOURCE_UNKNOWN', 'use /apisix/admin/plugins/list or ?all=true');
    }
    ctx.body = Object.fromEntries(
      pluginNames().map((name) => {
        const p = getPlugin(name);
        return [
          name,
          {
            priority: p?.priority,
            version: p?.version,
            type: p?.type,
            schema: p?.schema,
            consumer_schema: p?.consumerSchema,
          },
        ];
      }),
    );
  });

  router.get('/plugins/:name', (ctx) => {
    const name = String(ctx.params.name);
    const plugin = getPlugin(name);
    if (!plugin) {
      throw new ApiError('OBJECT_NOT_FOUND', `plugin not found: ${name.slice(0, 64)}`);
    }
    const consumer = ctx.query.schema_type === 'consumer';
    if (consumer && !plugin.consumerSchema) {
      throw new ApiError('OBJECT_NOT_FOUND', `plugin ${name} has no consumer schema`);
    }
    ctx.body = consumer ? plugin.consumerSchema : plugin.schema;
  });
}
