/**
 * The key layout in the store, relative to the prefix (default `/apisix`).
 *
 * Resources live where APISIX keeps them, one JSON value per object at
 * `/{resource}/{id}`, so an APISIX data plane could read what Tollgate
 * writes. Tollgate's own bookkeeping lives under `/_tollgate/`, a directory
 * APISIX ignores.
 */
import type { ResourceName } from './schema/resources.js';

export const RESOURCE_NAMES: readonly ResourceName[] = [
  'routes',
  'services',
  'upstreams',
  'consumers',
  'plugin_configs',
  'global_rules',
];

export function resourceDir(resource: ResourceName): string {
  return `/${resource}/`;
}

export function objectKey(resource: ResourceName, id: string): string {
  return `/${resource}/${id}`;
}

/** Splits `/{resource}/{id}`; undefined for keys outside the resource directories. */
export function parseObjectKey(key: string): { resource: ResourceName; id: string } | undefined {
  const m = /^\/([a-z_]+)\/([^/]+)$/.exec(key);
  if (!m || !(RESOURCE_NAMES as readonly string[]).includes(m[1] ?? '')) {
    return undefined;
  }
  return { resource: m[1] as ResourceName, id: m[2] ?? '' };
}

/** Written on every POST; its new revision numbers the created object. */
export const ID_SEQUENCE_KEY = '/_tollgate/id_sequence';
