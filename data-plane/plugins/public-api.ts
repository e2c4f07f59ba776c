/**
 * public-api: serves a built-in plugin API at the route's URI (or at `uri`
 * when configured). Built-in APIs have no listener of their own, so without
 * such a route they do not exist: the request finds no route and gets 404.
 */
import type { RequestContext } from '../context.js';
import { jwtSignApi } from './jwt-sign-api.js';
import type { PhaseEnv, PluginRuntime } from './types.js';

export interface BuiltInApi {
  path: string;
  methods: readonly string[];
  handle(ctx: RequestContext, env: PhaseEnv): Promise<void>;
}

const APIS = new Map<string, BuiltInApi>([[jwtSignApi.path, jwtSignApi]]);

export const publicApiRuntime: PluginRuntime = {
  name: 'public-api',
  async access(ctx, conf, env) {
    const path = typeof conf.uri === 'string' ? conf.uri : ctx.path;
    const api = APIS.get(path);
    if (!api || !api.methods.includes(ctx.req.method ?? '')) {
      ctx.respond(404, { error_msg: '404 Route Not Found' });
      return;
    }
    await api.handle(ctx, env);
  },
};
