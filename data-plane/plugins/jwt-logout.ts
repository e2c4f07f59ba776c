/**
 * jwt-logout at request time: `POST` with the token in the Authorization
 * header (`Bearer ` optional) revokes that token on every node; with the
 * body `{"everywhere": true}` it also revokes every token its consumer was
 * issued up to now.
 *
 * Revocations are keys the jwt-auth check reads from the watched state
 * (jwt-token.ts):
 *
 * - `/_tollgate/revoked/<username>/<jti or sha256 of the token>`, with a TTL
 *   that ends when the token would have expired anyway, so etcd drops it by
 *   itself;
 * - `/_tollgate/revoked_before/<username>` (epoch seconds; a token whose
 *   `iat` is at or before it, or that has no `iat`, is refused), kept
 *   without a TTL: tokens issued before it may live longer than the
 *   consumer's current `exp` says, since an admin may have lowered it since.
 *   It is one key per consumer, removed when the Admin API deletes the
 *   consumer.
 */
import { revokedBeforeKey, revokedKey } from '../../shared/keys.js';
import type { RequestContext } from '../context.js';
import { answerStoreFailure, readJsonObject, requirePost } from './json-api.js';
import { authenticateToken, bearerToken, JWT_MESSAGES, tokenId } from './jwt-token.js';
import type { JwtCredential } from './jwt-verify.js';
import type { PhaseEnv, PluginRuntime } from './types.js';

const PLUGIN = 'jwt-logout';

interface LogoutConf {
  key_claim_name: string;
}

type Credential = JwtCredential & { exp?: number };

export const jwtLogoutRuntime: PluginRuntime = {
  name: PLUGIN,
  async access(ctx, raw, env) {
    const conf = raw as unknown as LogoutConf;
    if (!requirePost(ctx)) {
      return;
    }
    const header = ctx.req.headers.authorization;
    const checked = authenticateToken(bearerToken(header ?? ''), env.state, {
      keyClaimName: conf.key_claim_name,
    });
    if (!checked.ok) {
      const reason = header === undefined ? 'no token in the authorization header' : checked.reason;
      env.logger.info('jwt-logout refused a request', { route_id: ctx.routeId, reason });
      ctx.respond(401, { message: JWT_MESSAGES.failed });
      return;
    }
    const body = await readJsonObject(ctx, true);
    const everywhere = body && parseEverywhere(ctx, body);
    if (everywhere === undefined) {
      return;
    }

    const username = checked.consumer.value.username;
    try {
      const credential = checked.credential as Credential;
      await revoke(env, checked.jwt.payload, credential, tokenId(checked.jwt), username);
      if (everywhere) {
        await revokeAll(env, username);
      }
    } catch (err) {
      answerStoreFailure(ctx, env, err, PLUGIN);
      return;
    }
    env.logger.info('consumer logged out', {
      route_id: ctx.routeId,
      consumer: username,
      everywhere,
    });
    ctx.respond(200, { message: 'logged out' });
  },
};

/** `true`/`false` from `{"everywhere": ...}` or an empty body; answers 400 for anything else. */
function parseEverywhere(ctx: RequestContext, body: Record<string, unknown>): boolean | undefined {
  const extra = Object.keys(body).filter((k) => k !== 'everywhere');
  if (extra.length > 0 || !['boolean', 'undefined'].includes(typeof body.everywhere)) {
    ctx.respond(400, { message: 'the body may only be {"everywhere": true|false}' });
    return undefined;
  }
  return body.everywhere === true;
}

async function revoke(
  env: PhaseEnv,
  payload: Record<string, unknown>,
  credential: Credential,
  id: string,
  username: string,
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const exp = payload.exp;
  const grace = credential.lifetime_grace_period ?? 0;
  // Limitation: a token without `exp` never expires, so neither does its revocation key.
  const options = typeof exp === 'number' ? { ttlSeconds: ttl(exp + grace - now) } : undefined;
  await env.store.put(revokedKey(username, id), username, options);
}

async function revokeAll(env: PhaseEnv, username: string): Promise<void> {
  await env.store.put(revokedBeforeKey(username), String(Math.floor(Date.now() / 1000)));
}

/** The store takes whole seconds from 1 to a year. */
function ttl(seconds: number): number {
  return Math.min(31_536_000, Math.max(1, Math.ceil(seconds)));
}
