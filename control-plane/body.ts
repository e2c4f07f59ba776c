/**
 * Reads an Admin API request body: bounded in size, checked for a content
 * type that can carry JSON, decoded as strict UTF-8 and parsed without
 * losing big numbers. Every failure is an ApiError with a 4xx status.
 */
import type { Context } from 'koa';

import { ApiError } from '../shared/errors.js';
import { JsonInputError, parseJson } from '../shared/json.js';

/**
 * curl's `-d` sends `application/x-www-form-urlencoded`, and APISIX scripts
 * rely on that, so it is read as JSON too.
 */
const JSON_CARRIERS = new Set([
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
]);

/** Returns the parsed body, or undefined when the request has none. */
export async function readJsonBody(ctx: Context, limit: number): Promise<unknown> {
  const declared = ctx.get('content-length');
  if (declared !== '' && Number(declared) > limit) {
    throw new ApiError('BODY_TOO_LARGE', `request body too large: the limit is ${limit} bytes`);
  }
  checkContentType(ctx.get('content-type'));
  checkEncoding(ctx.get('content-encoding'));

  const raw = await readAll(ctx, limit);
  if (raw.length === 0) {
    return undefined;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new ApiError('BODY_INVALID_JSON', 'invalid request body: not valid UTF-8');
  }
  if (text.trim() === '') {
    return undefined;
  }
  try {
    return parseJson(text);
  } catch (err) {
    if (err instanceof JsonInputError) {
      const code = err.message.startsWith('invalid JSON') ? 'BODY_INVALID_JSON' : 'SCHEMA_INVALID';
      throw new ApiError(code, err.message);
    }
    throw err;
  }
}

function checkContentType(header: string): void {
  if (header === '') {
    return;
  }
  const [rawType = '', ...params] = header.split(';');
  const type = rawType.trim().toLowerCase();
  const charset = params
    .map((p) => p.trim().toLowerCase())
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError(
      'CONTENT_TYPE_UNSUPPORTED',
      `unsupported charset "${charset.slice(0, 40)}": send UTF-8`,
    );
  }
  if (JSON_CARRIERS.has(type) || type.endsWith('+json')) {
    return;
  }
  throw new ApiError(
    'CONTENT_TYPE_UNSUPPORTED',
    `unsupported content type "${type.slice(0, 100)}": send application/json`,
  );
}

function checkEncoding(header: string): void {
  const encoding = header.trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new ApiError(
      'CONTENT_TYPE_UNSUPPORTED',
      `unsupported content encoding "${encoding.slice(0, 40)}": send the body uncompressed`,
    );
  }
}

async function readAll(ctx: Context, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      // Stop reading; the connection is closed after the error answer.
      ctx.set('Connection', 'close');
      throw new ApiError('BODY_TOO_LARGE', `request body too large: the limit is ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
