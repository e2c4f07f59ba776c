/**
 * consumer-signup at request time: `POST {username, email, password}`
 * creates a consumer that can log in with password-login and call jwt-auth
 * routes with the token it gets.
 *
 * How a sign-up reaches the store, and why. The data plane writes the
 * consumer itself, straight to the store; it never calls the control plane,
 * so sign-up works while the control plane is down and every node serves it
 * alone. Uniqueness holds across nodes because each write is a
 * create-if-absent decided by etcd, never a read-then-write:
 *
 * 1. the email is reserved with `create('/_tollgate/emails/<sha256 of the
 *    lowercased email>', 'pending:<username>')`, with a short TTL so a node
 *    that dies mid-way leaves no reservation behind (taken: 409). A
 *    reservation whose consumer no longer exists in the store (deleted by
 *    a tool other than the Admin API) is taken over by compare-and-set;
 * 2. the consumer is written with `create('/consumers/<username>')` (taken:
 *    409, and the reservation is released with compare-and-delete);
 * 3. the reservation is rewritten to the username without a TTL, which
 *    keeps it until the Admin API deletes the consumer (control-plane/crud.ts
 *    frees it then).
 *
 * The consumer passes validateResource('consumers'), the same schema and
 * plugin checks as an Admin API write, and its secrets (the jwt-auth secret,
 * the password hash) are sealed with the keyring before the write, so the
 * control plane and every node read it like any other consumer. It gets
 * exactly two plugins: jwt-auth (from the route's fixed `jwt` template) and
 * password-login; the request names no plugin or field of its own.
 */
import { randomBytes } from 'node:crypto';

import { sealConsumer } from '../../shared/consumer-secrets.js';
import { emailKey, objectKey, signupKey } from '../../shared/keys.js';
import { hashPassword } from '../../shared/password-hash.js';
import { validateResource } from '../../shared/schema/resources.js';
import type { CasResult } from '../../shared/store/types.js';
import type { RequestContext } from '../context.js';
import type { ConfigState } from '../state.js';
import { answerStoreFailure, readJsonObject, requirePost } from './json-api.js';
import { JWT_PLUGIN } from './jwt-token.js';
import { checkSignup } from './signup-checks.js';
import type { SignupRequest } from './signup-checks.js';
import type { PhaseEnv, PluginRuntime } from './types.js';
import { lockedFor, recordHit } from './shared-counters.js';
import type { CounterLimits } from './shared-counters.js';

const PLUGIN = 'consumer-signup';
/** The value of a reservation whose consumer is still being written. */
const PENDING = 'pending:';
/** What a finished reservation holds: a consumer's username. */
const USERNAME = /^[a-zA-Z0-9_-]{1,256}$/;
/** How long an email reservation lives before the consumer is written and it is made permanent. */
const RESERVATION_TTL_SECONDS = 60;

const TAKEN = {
  username: 'username already taken',
  email: 'email already registered',
} as const;

interface SignupConf {
  key_from: 'email' | 'username';
  min_password_length: number;
  jwt: { exp?: number; algorithm?: string };
  rate_limit: { count: number; window_seconds: number };
}

export const consumerSignupRuntime: PluginRuntime = {
  name: PLUGIN,
  async access(ctx, raw, env) {
    const conf = raw as unknown as SignupConf;
    if (!requirePost(ctx)) {
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const counter = signupKey(ctx.routeId ?? '', ctx.clientIp);
    const limits = signupLimits(conf);
    if (refuseTooMany(ctx, lockedFor(env.state, [counter], limits, now))) {
      return;
    }
    const body = await readJsonObject(ctx);
    const request = body && checkSignup(body, conf.min_password_length);
    if (typeof request !== 'object') {
      if (request !== undefined) {
        ctx.respond(400, { message: request });
      }
      return;
    }

    try {
      // Valid requests count, taken names included, which also slows down
      // probing for registered emails; typos do not use up the allowance.
      if (refuseTooMany(ctx, await recordHit(env.store, counter, limits, now))) {
        return;
      }
      const taken = takenIn(env.state, request, conf);
      if (taken !== undefined) {
        ctx.respond(409, { message: taken });
        return;
      }
      await signUp(ctx, request, conf, env);
    } catch (err) {
      answerStoreFailure(ctx, env, err, PLUGIN);
    }
  },
};

/** Answers 429 when the address must wait `wait` seconds; true when it did. */
function refuseTooMany(ctx: RequestContext, wait: number | undefined): boolean {
  if (wait === undefined) {
    return false;
  }
  const message = 'too many sign-ups from this address, try again later';
  ctx.respond(429, { message }, { 'retry-after': String(wait) });
  return true;
}

/**
 * Sign-ups per client address and route, counted in the store so that all
 * nodes share one allowance: `count` per window, then refusals until the
 * window has passed since the last one allowed.
 */
function signupLimits(conf: SignupConf): CounterLimits {
  const { count, window_seconds } = conf.rate_limit;
  return { limit: count, windowSeconds: window_seconds, lockSeconds: window_seconds };
}

function jwtKey(request: SignupRequest, conf: SignupConf): string {
  return conf.key_from === 'username' ? request.username : request.email.toLowerCase();
}

/**
 * Refuses early what this node already knows is taken, before any hashing.
 * The creates in signUp() decide; this only saves work.
 */
// Limitation: a 409 tells whether an email is registered; the per-address
// rate limit slows such probing but does not hide the answer.
function takenIn(state: ConfigState, request: SignupRequest, conf: SignupConf) {
  const byJwtKey = state.consumersByKey.get(JWT_PLUGIN);
  const email = request.email.toLowerCase();
  if (state.consumers.has(request.username)) {
    return TAKEN.username;
  }
  const reservedFor = state.accounts.emails.get(emailKey(email));
  const held =
    reservedFor !== undefined && !isStale(reservedFor, (name) => state.consumers.has(name));
  if (held || byJwtKey?.has(email)) {
    return TAKEN.email;
  }
  if (byJwtKey?.has(jwtKey(request, conf))) {
    return conf.key_from === 'email' ? TAKEN.email : TAKEN.username;
  }
  return undefined;
}

async function signUp(
  ctx: RequestContext,
  request: SignupRequest,
  conf: SignupConf,
  env: PhaseEnv,
): Promise<void> {
  const consumer = await buildConsumer(request, conf);
  const invalid = validateResource('consumers', consumer);
  if (invalid !== undefined) {
    env.logger.error('failed to build a valid consumer at sign-up', {
      route_id: ctx.routeId,
      reason: invalid,
    });
    ctx.respond(500, { message: 'internal error' });
    return;
  }

  const reservation = emailKey(request.email);
  const ttl = { ttlSeconds: RESERVATION_TTL_SECONDS };
  const reserved = await reserve(env, reservation, PENDING + request.username, ttl);
  if (!reserved.succeeded) {
    ctx.respond(409, { message: TAKEN.email });
    return;
  }
  const text = JSON.stringify(sealConsumer(consumer, env.keyring));
  const created = await env.store
    .create(objectKey('consumers', request.username), text)
    .catch(async (err: unknown) => {
      await env.store.compareAndDelete(reservation, reserved.revision).catch(() => undefined);
      throw err;
    });
  if (!created.succeeded) {
    await env.store.compareAndDelete(reservation, reserved.revision);
    ctx.respond(409, { message: TAKEN.username });
    return;
  }

  await keepReservation(ctx, env, reservation, request.username, reserved.revision);
  env.logger.info('consumer signed up', { route_id: ctx.routeId, consumer: request.username });
  ctx.respond(201, { username: request.username });
}

async function buildConsumer(request: SignupRequest, conf: SignupConf) {
  const now = Math.floor(Date.now() / 1000);
  // Only the template's own fields: nothing else can reach the credential.
  const grant = { exp: conf.jwt.exp, algorithm: conf.jwt.algorithm };
  const jwt = {
    key: jwtKey(request, conf),
    secret: randomBytes(32).toString('hex'),
    ...Object.fromEntries(Object.entries(grant).filter(([, v]) => v !== undefined)),
  };
  return {
    username: request.username,
    plugins: {
      [JWT_PLUGIN]: jwt,
      'password-login': { password_hash: await hashPassword(request.password) },
    },
    create_time: now,
    update_time: now,
  };
}

/**
 * Creates the reservation, or takes over a stale one: a finished
 * reservation whose consumer the store no longer has. The compare-and-set
 * on the revision read makes two sign-ups taking over one address at once
 * end with one winner.
 */
async function reserve(
  env: PhaseEnv,
  key: string,
  value: string,
  options: { ttlSeconds: number },
): Promise<CasResult> {
  const created = await env.store.create(key, value, options);
  const current = created.current;
  if (created.succeeded || current === undefined) {
    return created;
  }
  const owner = current.value;
  if (!USERNAME.test(owner) || (await env.store.get(objectKey('consumers', owner)))) {
    return created;
  }
  env.logger.info('taking over the email reservation of a consumer that no longer exists', {
    consumer: owner,
  });
  return env.store.compareAndSet(key, value, current.modRevision, options);
}

/**
 * A finished reservation (a plain username) whose consumer is gone. A value
 * that is no username at all, written by another tool, is left alone.
 */
function isStale(owner: string, exists: (username: string) => boolean): boolean {
  return USERNAME.test(owner) && !exists(owner);
}

/**
 * Rewrites the reservation without a TTL, so it lasts as long as the
 * consumer. The consumer exists by now, so a failure here is logged, not
 * answered: the client's sign-up did succeed.
 */
async function keepReservation(
  ctx: RequestContext,
  env: PhaseEnv,
  key: string,
  username: string,
  revision: number,
): Promise<void> {
  try {
    const kept = await env.store.compareAndSet(key, username, revision);
    if (kept.succeeded || (await env.store.create(key, username)).succeeded) {
      return;
    }
    throw new Error('the reservation was taken meanwhile');
  } catch (err) {
    env.logger.error('failed to keep the email reservation of a new consumer', {
      route_id: ctx.routeId,
      consumer: username,
      error: (err as Error).message,
    });
  }
}
