/**
 * jwt-auth at request time, with APISIX's behaviour and messages.
 *
 * The token comes from the header (with or without `Bearer `), then the
 * query argument, then the cookie. Its key claim names the consumer; it must
 * carry the consumer's own algorithm and verify with the consumer's key, and
 * `exp`/`nbf` must hold, and a token revoked by jwt-logout is refused (the
 * checks shared with jwt-logout live in jwt-token.ts). Clients only ever see
 * APISIX's short messages; the log says why.
 */
import type { RequestContext } from '../context.js';
import type { Stored } from '../state.js';
import type { ConsumerValue } from '../types.js';
import { parseCookies } from '../vars.js';
import { authenticateToken, bearerToken, JWT_MESSAGES, JWT_PLUGIN } from './jwt-token.js';
import type { PhaseEnv, PluginRuntime } from './types.js';

export { JWT_PLUGIN } from './jwt-token.js';

interface RouteConf {
  header: string;
  query: string;
  cookie: string;
  hide_credentials: boolean;
  key_claim_name: string;
  store_in_ctx: boolean;
  realm: string;
  anonymous_consumer?: string;
  claims_to_verify?: string[];
}

type Source = 'header' | 'query' | 'cookie';

/** Where verified claims are kept for later plugins when `store_in_ctx` is set. */
export const JWT_PAYLOAD_VAR = 'jwt_auth_payload';

export const jwtAuthRuntime: PluginRuntime = {
  name: JWT_PLUGIN,
  rewrite(ctx, raw, env) {
    const conf = raw as unknown as RouteConf;
    const found = fetchToken(ctx, conf);
    if (!found) {
      const reason = 'no token in header, query or cookie';
      return refuse(ctx, conf, env, JWT_MESSAGES.missing, reason);
    }
    const checked = authenticateToken(found.token, env.state, {
      keyClaimName: conf.key_claim_name,
      claimsToVerify: conf.claims_to_verify,
    });
    if (!checked.ok) {
      return refuse(ctx, conf, env, checked.message, checked.reason, checked.consumer);
    }
    attach(ctx, checked.consumer, env);
    if (conf.hide_credentials) {
      hide(ctx, conf, found.from);
    }
    if (conf.store_in_ctx) {
      ctx.vars.set(JWT_PAYLOAD_VAR, checked.jwt.payload);
    }
  },
};

function fetchToken(
  ctx: RequestContext,
  conf: RouteConf,
): { token: string; from: Source } | undefined {
  const header = ctx.req.headers[conf.header.toLowerCase()];
  const value = Array.isArray(header) ? header[0] : header;
  if (value !== undefined && value !== '') {
    return { token: bearerToken(value), from: 'header' };
  }
  const fromQuery = ctx.query.get(conf.query);
  if (fromQuery) {
    return { token: fromQuery, from: 'query' };
  }
  const fromCookie = parseCookies(ctx.req.headers.cookie).get(conf.cookie);
  return fromCookie ? { token: fromCookie, from: 'cookie' } : undefined;
}

/** Answers 401, unless an anonymous consumer is configured to stand in. */
function refuse(
  ctx: RequestContext,
  conf: RouteConf,
  env: PhaseEnv,
  message: string,
  reason: string,
  consumer?: string,
): void {
  const anonymous =
    conf.anonymous_consumer === undefined
      ? undefined
      : env.state.consumers.get(conf.anonymous_consumer);
  if (anonymous) {
    attach(ctx, anonymous, env);
    return;
  }
  env.logger.info('jwt-auth refused a request', {
    route_id: ctx.routeId,
    reason,
    consumer: consumer ?? null,
  });
  ctx.respond(401, { message }, { 'www-authenticate': `Bearer realm="${conf.realm}"` });
}

function attach(ctx: RequestContext, consumer: Stored<ConsumerValue>, env: PhaseEnv): void {
  ctx.consumer = consumer;
  ctx.plugins = env.state.withConsumer(ctx.resolved, consumer);
  ctx.upstreamHeaders['x-consumer-username'] = consumer.value.username;
}

/** Removes one argument from a raw query string, leaving every other byte as sent. */
function withoutQueryArg(query: string, name: string): string {
  return query
    .split('&')
    .filter((part) => {
      const raw = part.split('=')[0] ?? '';
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' ')) !== name;
      } catch {
        return true;
      }
    })
    .join('&');
}

function hide(ctx: RequestContext, conf: RouteConf, from: Source): void {
  if (from === 'header') {
    delete ctx.upstreamHeaders[conf.header.toLowerCase()];
  } else if (from === 'query') {
    ctx.upstreamQuery = withoutQueryArg(ctx.upstreamQuery, conf.query);
  } else {
    const kept = [...parseCookies(ctx.req.headers.cookie)]
      .filter(([name]) => name !== conf.cookie)
      .map(([name, value]) => `${name}=${value}`);
    if (kept.length === 0) {
      delete ctx.upstreamHeaders.cookie;
    } else {
      ctx.upstreamHeaders.cookie = kept.join('; ');
    }
  }
}
