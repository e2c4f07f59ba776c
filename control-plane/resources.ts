/**
 * The Admin API resources as thin declarations over one generic CRUD
 * (crud.ts): what the id is called, which methods exist, which fields
 * reference other objects, and what must happen before a write.
 */
import { randomBytes } from 'node:crypto';

import type { ResourceName } from '../shared/schema/resources.js';

type Obj = Record<string, unknown>;

export interface Reference {
  field: string;
  target: ResourceName;
}

export interface ResourceDef {
  name: ResourceName;
  /** Singular, for messages: "route", "plugin config". */
  kind: string;
  /** Consumers are named by `username` instead of `id`. */
  idField: 'id' | 'username';
  /** POST with a server-generated id. */
  allowPost: boolean;
  /** Fields holding the id of another object that must exist. */
  references: Reference[];
  /** Completes a value before validation (for example generating secrets). */
  prepare?(value: Obj): void;
}

export const RESOURCES: Record<ResourceName, ResourceDef> = {
  routes: {
    name: 'routes',
    kind: 'route',
    idField: 'id',
    allowPost: true,
    references: [
      { field: 'upstream_id', target: 'upstreams' },
      { field: 'service_id', target: 'services' },
      { field: 'plugin_config_id', target: 'plugin_configs' },
    ],
  },
  services: {
    name: 'services',
    kind: 'service',
    idField: 'id',
    allowPost: true,
    references: [{ field: 'upstream_id', target: 'upstreams' }],
  },
  upstreams: {
    name: 'upstreams',
    kind: 'upstream',
    idField: 'id',
    allowPost: true,
    references: [],
  },
  consumers: {
    name: 'consumers',
    kind: 'consumer',
    idField: 'username',
    allowPost: false,
    references: [],
    prepare: prepareConsumer,
  },
  plugin_configs: {
    name: 'plugin_configs',
    kind: 'plugin config',
    idField: 'id',
    allowPost: true,
    references: [],
  },
  global_rules: {
    name: 'global_rules',
    kind: 'global rule',
    idField: 'id',
    allowPost: true,
    references: [],
  },
};

export function findResource(name: string): ResourceDef | undefined {
  return Object.hasOwn(RESOURCES, name) ? RESOURCES[name as ResourceName] : undefined;
}

/** Who may point at objects of `target`, for the in-use check before a delete. */
export function referrersOf(target: ResourceName): { resource: ResourceDef; field: string }[] {
  return Object.values(RESOURCES).flatMap((resource) =>
    resource.references
      .filter((ref) => ref.target === target)
      .map((ref) => ({ resource, field: ref.field })),
  );
}

/**
 * A jwt-auth consumer written without a secret gets one here, once, so that
 * every data-plane node signs and verifies with the same stored secret.
 */
function prepareConsumer(value: Obj): void {
  const plugins = value.plugins as Obj | undefined;
  const jwt = plugins?.['jwt-auth'];
  if (jwt === null || typeof jwt !== 'object' || Array.isArray(jwt)) {
    return;
  }
  const conf = jwt as Obj;
  const algorithm = conf.algorithm ?? 'HS256';
  const isHmac = typeof algorithm === 'string' && algorithm.startsWith('HS');
  if (isHmac && conf.secret === undefined) {
    const bytes = randomBytes(32);
    conf.secret = conf.base64_secret === true ? bytes.toString('base64') : bytes.toString('hex');
  }
}
