/**
 * The key layout in the store, relative to the prefix (default `/apisix`).
 *
 * Resources live where APISIX keeps them, one JSON value per object at
 * `/{resource}/{id}`, so an APISIX data plane could read what Tollgate
 * writes. Tollgate's own bookkeeping lives under `/_tollgate/`, a directory
 * APISIX ignores.
 */
import { createHash } from 'node:crypto';

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

/**
 * Account bookkeeping the data plane writes itself (sign-up, password login,
 * logout). Every node watches these keys; the counters and revocations are
 * written with a TTL so etcd removes them when they stop mattering.
 */
export const EMAIL_DIR = '/_tollgate/emails/';
export const FAILURE_DIR = '/_tollgate/login_failures/';
export const SIGNUP_DIR = '/_tollgate/signup_counts/';
export const REVOKED_DIR = '/_tollgate/revoked/';
export const REVOKED_BEFORE_DIR = '/_tollgate/revoked_before/';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Reserves an email address for one username: `/_tollgate/emails/<sha256 of lowercased email>`. */
export function emailKey(email: string): string {
  return `${EMAIL_DIR}${sha256Hex(email.toLowerCase())}`;
}

export type FailureKind = 'account' | 'address';

const PLAIN_ADDRESS = /^[0-9A-Fa-f:.]{1,45}$/;

/**
 * Failed-login counter of an account (its lowercased name, hashed) or a
 * client address (as it is, unless it is not a plain IP: then hashed too,
 * so no header value can shape the key).
 */
export function failureKey(kind: FailureKind, id: string): string {
  return `${FAILURE_DIR}${kind}/${kind === 'address' ? addressPart(id) : sha256Hex(id.toLowerCase())}`;
}

/** Sign-ups through one route from one client address, for consumer-signup's rate limit. */
export function signupKey(routeId: string, address: string): string {
  return `${SIGNUP_DIR}${sha256Hex(routeId)}/${addressPart(address)}`;
}

function addressPart(address: string): string {
  return PLAIN_ADDRESS.test(address) ? address : sha256Hex(address.toLowerCase());
}

/**
 * One revoked token of one consumer: the username is part of the key, so a
 * token of another consumer carrying the same `jti` can neither revoke nor
 * overwrite it.
 */
export function revokedKey(username: string, tokenId: string): string {
  return `${REVOKED_DIR}${username}/${tokenId}`;
}

export function revokedBeforeKey(username: string): string {
  return `${REVOKED_BEFORE_DIR}${username}`;
}
