/**
 * The JWT sign API as APISIX 3.3 had it:
 * `GET /apisix/plugin/jwt/sign?key=<key>&payload=<url-encoded JSON>`.
 *
 * Anyone who can reach it and knows a consumer's key gets a token for that
 * consumer; it is reachable only through a route with public-api, and
 * password-login is the safer way to hand out tokens.
 */
import { signToken, SigningError } from '../../shared/jwt-sign.js';
import type { SigningCredential } from '../../shared/jwt-sign.js';
import type { BuiltInApi } from './public-api.js';

export const JWT_SIGN_PATH = '/apisix/plugin/jwt/sign';

export const jwtSignApi: BuiltInApi = {
  path: JWT_SIGN_PATH,
  methods: ['GET'],
  async handle(ctx, env) {
    const key = ctx.query.get('key');
    if (!key) {
      ctx.respond(400, { message: 'missing key' });
      return;
    }
    const extra = parsePayload(ctx.query.get('payload'));
    if (extra === undefined) {
      ctx.respond(400, { message: 'payload must be a JSON object' });
      return;
    }
    const consumer = env.state.consumersByKey.get('jwt-auth')?.get(key);
    const credential = consumer?.value.plugins?.['jwt-auth'] as SigningCredential | undefined;
    if (!consumer || !credential) {
      ctx.respond(404, { message: 'consumer not found' });
      return;
    }

    try {
      const { token } = await signToken(credential, extra);
      ctx.respond(200, token);
    } catch (err) {
      if (!(err instanceof SigningError)) {
        throw err;
      }
      env.logger.warn('failed to sign jwt', { consumer: consumer.id, reason: err.message });
      ctx.respond(400, { message: err.message });
    }
  },
};

function parsePayload(raw: string | null): Record<string, unknown> | undefined {
  if (raw === null || raw === '') {
    return {};
  }
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
