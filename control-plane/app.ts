/**
 * The Admin API: APISIX 3.x paths and shapes under `/apisix/admin`.
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { Context, Next } from 'koa';

import type { AdminKey } from '../shared/config.js';
import { ApiError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { ConfigStore } from '../shared/store/types.js';
import { hideConsumerFields, maskConsumerSecrets } from '../shared/consumer-secrets.js';
import { SecretError } from '../shared/secrets.js';
import type { Keyring } from '../shared/secrets.js';
import { StoreUnavailableError } from '../shared/store/types.js';
import { adminAuth } from './auth.js';
import { readJsonBody } from './body.js';
import { Crud } from './crud.js';
import type { StoredObject } from './crud.js';
import { parseSubPath } from './patch.js';
import { pluginRoutes } from './plugins-api.js';
import { findResource } from './resources.js';
import type { ResourceDef } from './resources.js';

export interface AdminAppOptions {
  store: ConfigStore;
  logger: Logger;
  keys: readonly AdminKey[];
  allow: readonly string[];
  maxBodyBytes: number;
  /** Seals consumer secrets before they are stored; none: stored as sent. */
  keyring?: Keyring;
}

export function createAdminApp(options: AdminAppOptions): Koa {
  const app = new Koa();
  const crud = new Crud(options.store, { keyring: options.keyring, logger: options.logger });
  const router = new Router({ prefix: '/apisix/admin' });
  const body = (ctx: Context) => readJsonBody(ctx, options.maxBodyBytes);

  pluginRoutes(router);

  router.all('/:resource', async (ctx) => {
    const def = resourceOf(ctx);
    switch (ctx.method) {
      case 'GET':
      case 'HEAD':
        ctx.body = listBody(await crud.list(def), ctx.query, viewer(ctx));
        return;
      case 'POST':
        if (!def.allowPost) {
          throw methodNotAllowed(ctx, def);
        }
        respond(ctx, await crud.post(def, await body(ctx)), 201);
        return;
      case 'PUT':
        return putCollection(ctx, crud, def, await body(ctx));
      default:
        throw methodNotAllowed(ctx, def);
    }
  });

  router.all('/:resource/:id', async (ctx) => {
    const def = resourceOf(ctx);
    const id = String(ctx.params.id);
    switch (ctx.method) {
      case 'GET':
      case 'HEAD':
        respond(ctx, redactFor(ctx, await crud.get(def, id)), 200);
        return;
      case 'PUT': {
        const [stored, created] = await crud.put(def, id, await body(ctx));
        respond(ctx, stored, created ? 201 : 200);
        return;
      }
      case 'PATCH':
        respond(ctx, await crud.patch(def, id, await body(ctx)), 200);
        return;
      case 'DELETE':
        ctx.body = await crud.delete(def, id, ctx.query.force === 'true');
        return;
      default:
        throw methodNotAllowed(ctx, def);
    }
  });

  router.all('/:resource/:id/*subpath', async (ctx) => {
    const def = resourceOf(ctx);
    if (ctx.method !== 'PATCH') {
      throw methodNotAllowed(ctx, def);
    }
    const raw = ctx.params.subpath as unknown;
    const subPath = parseSubPath(Array.isArray(raw) ? raw.join('/') : String(raw));
    respond(ctx, await crud.patch(def, String(ctx.params.id), await body(ctx), subPath), 200);
  });

  app.use(requestLog(options.logger));
  app.use(errorHandler(options.logger));
  app.use(adminAuth(options.keys, options.allow));
  app.use(router.routes());
  app.use(notFound);
  app.on('error', (err: unknown) => options.logger.warn('admin connection error', { error: err }));
  return app;
}

function resourceOf(ctx: Context): ResourceDef {
  const name = String(ctx.params.resource);
  const def = findResource(name);
  if (!def) {
    throw new ApiError('RESOURCE_UNKNOWN', `unsupported resource type: ${name.slice(0, 64)}`);
  }
  return def;
}

/** `PUT /consumers` names the object in the body, as the tutorial's Register call does. */
async function putCollection(ctx: Context, crud: Crud, def: ResourceDef, body: unknown) {
  const id = (body as Record<string, unknown> | undefined)?.[def.idField];
  if (def.idField !== 'username' || typeof id !== 'string') {
    throw new ApiError('ID_INVALID', `missing ${def.kind} id`);
  }
  const [stored, created] = await crud.put(def, id, body);
  respond(ctx, stored, created ? 201 : 200);
}

function respond(ctx: Context, stored: StoredObject, status: number): void {
  ctx.status = status;
  ctx.body = withoutHidden(stored);
}

function methodNotAllowed(ctx: Context, def: ResourceDef): ApiError {
  return new ApiError(
    'METHOD_NOT_ALLOWED',
    `not supported \`${ctx.method}\` method for ${def.kind}`,
  );
}

const PAGE_SIZE_MIN = 10;
const PAGE_SIZE_MAX = 500;

/** `{total, list}`, optionally filtered by name, label or uri and paged like APISIX. */
function listBody(items: StoredObject[], query: Context['query'], redact: boolean) {
  const filtered = items
    .filter((item) => matchesFilters(item.value, query))
    .map((item) => withoutHidden(redact ? redactSecrets(item) : item));
  const page = positiveInt(query.page, 'page', 1, Number.MAX_SAFE_INTEGER);
  const size = positiveInt(query.page_size, 'page_size', PAGE_SIZE_MIN, PAGE_SIZE_MAX);
  if (page === undefined && size === undefined) {
    return { total: filtered.length, list: filtered };
  }
  const p = page ?? 1;
  const n = size ?? PAGE_SIZE_MIN;
  return { total: filtered.length, list: filtered.slice((p - 1) * n, p * n) };
}

function positiveInt(raw: unknown, name: string, min: number, max: number): number | undefined {
  if (raw === undefined) {
    return undefined;
  }
  const n = typeof raw === 'string' && /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ApiError(
      'SCHEMA_INVALID',
      `invalid query argument ${name}: expected an integer from ${min} to ${max}`,
    );
  }
  return n;
}

function matchesFilters(value: unknown, query: Context['query']): boolean {
  const v = (value ?? {}) as Record<string, unknown>;
  const { name, uri, label } = query;
  if (typeof name === 'string' && !String(v.name ?? '').includes(name)) {
    return false;
  }
  if (typeof uri === 'string') {
    const uris = Array.isArray(v.uris) ? v.uris.map(String) : [String(v.uri ?? '')];
    if (!uris.some((u) => u.includes(uri))) {
      return false;
    }
  }
  if (typeof label === 'string') {
    const [k = '', want] = label.split(':');
    const labels = (v.labels ?? {}) as Record<string, unknown>;
    return want === undefined ? Object.hasOwn(labels, k) : labels[k] === want;
  }
  return true;
}

function viewer(ctx: Context): boolean {
  return ctx.state.keyRole === 'viewer';
}

/** Viewer keys read consumers with their secrets masked. */
function redactFor(ctx: Context, stored: StoredObject): StoredObject {
  return viewer(ctx) ? redactSecrets(stored) : stored;
}

function redactSecrets(stored: StoredObject): StoredObject {
  return mapPlugins(stored, maskConsumerSecrets);
}

/** Every key's answers: fields a plugin declares hidden (password hashes) are left out. */
function withoutHidden(stored: StoredObject): StoredObject {
  return mapPlugins(stored, hideConsumerFields);
}

function mapPlugins(
  stored: StoredObject,
  transform: (value: Record<string, unknown>) => Record<string, unknown>,
): StoredObject {
  const value = stored.value as Record<string, unknown> | null;
  if (value === null || typeof value !== 'object' || typeof value.plugins !== 'object') {
    return stored;
  }
  return { ...stored, value: transform(value) };
}

async function notFound(ctx: Context): Promise<void> {
  throw new ApiError('RESOURCE_UNKNOWN', `no Admin API at ${ctx.method} ${ctx.path.slice(0, 200)}`);
}

/** The client sees a stable code and a safe message; causes of 5xx go to the log only. */
function errorHandler(logger: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.status >= 500) {
        logger.error('failed to serve admin request', {
          method: ctx.method,
          path: ctx.path,
          error: err,
        });
      } else if (apiError.code === 'REQUEST_ABORTED') {
        logger.info('admin request aborted by the client', { method: ctx.method, path: ctx.path });
      }
      ctx.status = apiError.status;
      ctx.body = { error_msg: apiError.message, error_code: apiError.code };
      if (apiError.code === 'OBJECT_NOT_FOUND') {
        (ctx.body as Record<string, unknown>).message = apiError.message;
      }
    }
  };
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) {
    return err;
  }
  if (err instanceof StoreUnavailableError) {
    // The cause (addresses, gRPC details) goes to the log, not to the client.
    return new ApiError('STORE_UNAVAILABLE', 'config store unreachable, try again later');
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'STORE_VALUE_TOO_LARGE') {
    return new ApiError('OBJECT_TOO_LARGE');
  }
  if (code === 'STORE_FULL') {
    return new ApiError('STORE_FULL');
  }
  if (code === 'ECONNRESET' || (err as Error | null)?.message === 'aborted') {
    return new ApiError('REQUEST_ABORTED');
  }
  if (err instanceof SecretError) {
    return new ApiError('SECRET_UNREADABLE', err.message);
  }
  return new ApiError('INTERNAL');
}

function requestLog(logger: Logger) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const start = performance.now();
    const remote = ctx.req.socket?.remoteAddress;
    try {
      await next();
    } finally {
      const entry = {
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        duration_ms: Math.round((performance.now() - start) * 10) / 10,
        key_name: (ctx.state.keyName as string | undefined) ?? null,
        remote_addr: remote,
      };
      logger.http('admin request', entry);
    }
  };
}
