/**
 * password-login at request time: `POST {"username"|"email", "password"}`
 * answers `{token, expires_in}`, a token signed with the consumer's jwt-auth
 * credential, so every jwt-auth route accepts it.
 *
 * An unknown account and a wrong password get the same 401 after the same
 * work: scrypt always runs (against a fixed dummy hash when there is no
 * account) and both count a failure. Failures lock the account and the
 * client address on every node (shared-counters.ts); a locked one gets 429
 * before its password is even checked.
 */
// Limitation: scrypt runs on libuv's small thread pool (16 MiB and tens of
// milliseconds each); a flood of logins queues behind it and delays other
// work of that pool on the node. Front login routes with a rate limit.
import { signToken, SigningError } from '../../shared/jwt-sign.js';
import type { SigningCredential } from '../../shared/jwt-sign.js';
import { emailKey, failureKey } from '../../shared/keys.js';
import { DUMMY_HASH, verifyPassword } from '../../shared/password-hash.js';
import type { RequestContext } from '../context.js';
import type { ConfigState, Stored } from '../state.js';
import type { ConsumerValue } from '../types.js';
import { answerStoreFailure, readJsonObject, requirePost } from './json-api.js';
import { JWT_PLUGIN } from './jwt-token.js';
import { lockedFor, recordHit } from './shared-counters.js';
import type { CounterLimits } from './shared-counters.js';
import type { PhaseEnv, PluginRuntime } from './types.js';

const PLUGIN = 'password-login';
const MAX_NAME = 256;
/** Longer passwords are refused before hashing; sign-up allows 256 characters. */
const MAX_PASSWORD = 1024;
const INVALID = { message: 'invalid username or password' };
const LOCKED = { message: 'too many failed logins, try again later' };

interface Login {
  by: 'username' | 'email';
  name: string;
  password: string;
}

export const passwordLoginRuntime: PluginRuntime = {
  name: PLUGIN,
  async access(ctx, raw, env) {
    if (!requirePost(ctx)) {
      return;
    }
    const body = await readJsonObject(ctx);
    const login = body && parseLogin(body);
    if (typeof login !== 'object') {
      if (login !== undefined) {
        ctx.respond(400, { message: login });
      }
      return;
    }
    try {
      await logIn(ctx, login, lockLimits(raw as unknown as LockConf), env);
    } catch (err) {
      answerStoreFailure(ctx, env, err, PLUGIN);
    }
  },
};

function parseLogin(body: Record<string, unknown>): Login | string {
  const keys = Object.keys(body).sort().join(',');
  const by = keys === 'password,username' ? 'username' : keys === 'email,password' ? 'email' : '';
  if (by === '') {
    return 'the body must be {"username", "password"} or {"email", "password"}';
  }
  const name = body[by];
  const password = body.password;
  if (typeof name !== 'string' || typeof password !== 'string') {
    return `"${by}" and "password" must be strings`;
  }
  if (name === '' || name.length > MAX_NAME || password === '' || password.length > MAX_PASSWORD) {
    return `"${by}" or "password" is empty or too long`;
  }
  return { by, name, password };
}

/** The consumer a login names: by username, or by email (reservation first, then jwt-auth key). */
function findConsumer(state: ConfigState, login: Login): Stored<ConsumerValue> | undefined {
  if (login.by === 'username') {
    return state.consumers.get(login.name);
  }
  const email = login.name.toLowerCase();
  const reservedFor = state.accounts.emails.get(emailKey(email));
  const byKey = state.consumersByKey.get(JWT_PLUGIN);
  return reservedFor !== undefined
    ? state.consumers.get(reservedFor)
    : (byKey?.get(email) ?? byKey?.get(login.name));
}

/** The route's lock-out settings, as the plugin schema names them. */
interface LockConf {
  max_failures: number;
  window_seconds: number;
  lock_seconds: number;
}

function lockLimits(conf: LockConf): CounterLimits {
  return {
    limit: conf.max_failures,
    windowSeconds: conf.window_seconds,
    lockSeconds: conf.lock_seconds,
  };
}

async function logIn(
  ctx: RequestContext,
  login: Login,
  conf: CounterLimits,
  env: PhaseEnv,
): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const consumer = findConsumer(env.state, login);
  const accountKey = failureKey('account', consumer?.value.username ?? login.name);
  const addressKey = failureKey('address', ctx.clientIp);
  // This node's view refuses a locked account or address without a store
  // call. The attempt is then counted on the account in the store before the
  // password is checked, so that concurrent guesses, which all passed that
  // view, cannot exceed max_failures; a success clears the count again.
  const wait =
    lockedFor(env.state, [accountKey, addressKey], conf, now) ??
    (await recordHit(env.store, accountKey, conf, now));
  if (wait !== undefined) {
    env.logger.info('password login locked', { route_id: ctx.routeId, consumer: consumer?.id });
    ctx.respond(429, LOCKED, { 'retry-after': String(wait) });
    return;
  }

  const plugins = consumer?.value.plugins;
  const hash = plugins?.[PLUGIN]?.password_hash;
  const credential = plugins?.[JWT_PLUGIN] as SigningCredential | undefined;
  const matches = await verifyPassword(
    login.password,
    typeof hash === 'string' ? hash : DUMMY_HASH,
  );
  if (!consumer || !credential || !matches) {
    await recordHit(env.store, addressKey, conf, now);
    const reason = consumer ? 'wrong password' : 'unknown account';
    env.logger.info('password login refused', { route_id: ctx.routeId, reason });
    ctx.respond(401, INVALID);
    return;
  }

  await env.store.delete(accountKey);
  await answerToken(ctx, env, consumer, credential, now);
}

async function answerToken(
  ctx: RequestContext,
  env: PhaseEnv,
  consumer: Stored<ConsumerValue>,
  credential: SigningCredential,
  now: number,
): Promise<void> {
  // A token issued in the very second of an "everywhere" logout would be
  // refused with the older ones, so it is dated one second later.
  const before = env.state.accounts.revokedBefore.get(consumer.value.username);
  const issuedAt = before !== undefined && before >= now ? before + 1 : now;
  try {
    const { token, expiresIn } = await signToken(credential, {}, issuedAt);
    ctx.respond(200, { token, expires_in: expiresIn });
  } catch (err) {
    if (!(err instanceof SigningError)) {
      throw err;
    }
    env.logger.error('failed to sign jwt at login', { consumer: consumer.id, reason: err.message });
    ctx.respond(500, { message: 'this account cannot be issued a token' });
  }
}
