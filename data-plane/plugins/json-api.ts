/**
 * Helpers for plugins that answer a small JSON API themselves (sign-up,
 * login, logout) instead of proxying: the method check, a bounded JSON body
 * read, and one answer for an unreachable store. Each helper answers the
 * client itself when the request cannot go on.
 */
import type { RequestContext } from '../context.js';
import type { PhaseEnv } from './types.js';

type Obj = Record<string, unknown>;

/** Bodies of these APIs are small; anything larger is refused before it is read. */
export const MAX_BODY_BYTES = 16 * 1024;

/** True when the request is a POST; otherwise answers 405. */
export function requirePost(ctx: RequestContext): boolean {
  if (ctx.req.method === 'POST') {
    return true;
  }
  ctx.respond(405, { message: 'method not allowed, use POST' }, { allow: 'POST' });
  return false;
}

/**
 * Reads the body as one JSON object. Answers 413 when it is larger than
 * `MAX_BODY_BYTES` and 400 when it is not valid UTF-8 or not a JSON object,
 * then returns undefined. An empty body reads as `{}` when `allowEmpty` is set.
 */
export async function readJsonObject(
  ctx: RequestContext,
  allowEmpty = false,
): Promise<Obj | undefined> {
  const raw = await readRaw(ctx);
  if (raw === 'too-large') {
    ctx.respond(413, { message: 'request body too large' }, { connection: 'close' });
    return undefined;
  }
  if (raw === 'aborted') {
    ctx.respond(400, { message: 'the request was aborted' }, { connection: 'close' });
    return undefined;
  }
  if (raw.length === 0 && allowEmpty) {
    return {};
  }
  // Strict decoding: with U+FFFD replacement, different invalid byte strings
  // (two passwords, say) would read as the same text.
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    ctx.respond(400, { message: 'the body is not valid UTF-8' });
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ctx.respond(400, { message: 'the body must be a JSON object' });
    return undefined;
  }
  return value as Obj;
}

function readRaw(ctx: RequestContext): Promise<Buffer | 'too-large' | 'aborted'> {
  const { req } = ctx;
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    return Promise.resolve('too-large');
  }
  // The gateway takes `Expect: 100-continue` itself; say go on only now.
  if (/100-continue/i.test(req.headers.expect ?? '')) {
    ctx.res.writeContinue();
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | 'too-large' | 'aborted') => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      // Whatever is left is read and dropped; the answer closes the connection.
      req.resume();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        finish('too-large');
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = () => finish(Buffer.concat(chunks));
    const onClose = () => finish('aborted');
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.on('error', () => undefined);
  });
}

/**
 * Answers 503 when the store failed (unreachable, timed out, full) and logs
 * why; anything else is rethrown for the gateway's 500.
 */
export function answerStoreFailure(
  ctx: RequestContext,
  env: PhaseEnv,
  err: unknown,
  plugin: string,
): void {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('STORE_')) {
    throw err;
  }
  env.logger.error('failed to write account data to the store', {
    plugin,
    route_id: ctx.routeId,
    error: (err as Error).message,
  });
  ctx.respond(503, { message: 'service unavailable, try again later' });
}
