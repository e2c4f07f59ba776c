/**
 * A small cluster for the account plugins: one Admin API and two data-plane
 * nodes over one etcd prefix, a jwt-auth route in front of a real upstream,
 * and routes for sign-up, password login and logout. Both nodes believe
 * X-Forwarded-For from loopback, so a test can speak from any address.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { Keyring } from '../../shared/secrets.js';
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startAdmin } from './admin.js';
import type { TestAdmin } from './admin.js';
import { eventually, startNode } from './data-plane.js';
import type { NodeReply, TestNode } from './data-plane.js';
import { startUpstream } from './upstream.js';
import type { TestUpstream } from './upstream.js';

export const LOCK = { max_failures: 3, window_seconds: 60, lock_seconds: 60 };

export interface AccountCluster {
  store: ConfigStore;
  keyring: Keyring;
  admin: TestAdmin;
  nodes: [TestNode, TestNode];
  upstream: TestUpstream;
  /** PUTs through the Admin API and waits until both nodes serve it. */
  put(path: string, body: unknown): Promise<void>;
  /** POSTs JSON to a node, optionally from a given client address. */
  post(
    node: TestNode,
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<NodeReply>;
  /** Waits until both nodes pass `check`. */
  onBoth(check: (node: TestNode) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startAccountCluster(etcd: TestEtcd): Promise<AccountCluster> {
  const store = createEtcdStore({ endpoints: etcd.endpoints, prefix: uniquePrefix('accounts') });
  const keyring = new Keyring([{ id: 'k1', key: randomBytes(32) }]);
  const admin = await startAdmin(store, { keyring });
  const env = { TOLLGATE_TRUSTED_PROXIES: '127.0.0.1/32' };
  const nodes: [TestNode, TestNode] = [
    await startNode(store, env, keyring),
    await startNode(store, env, keyring),
  ];
  const upstream = await startUpstream('a');

  const onBoth = (check: (node: TestNode) => boolean, timeoutMs?: number) =>
    eventually(async () => nodes.every(check), timeoutMs).then(() => undefined);
  const put = async (path: string, body: unknown) => {
    const res = await admin.request('PUT', `/apisix/admin${path}`, body);
    assert.ok(res.status < 300, `${path}: ${res.text}`);
    await onBoth((n) => n.sync.status().revision >= res.body.modifiedIndex);
  };
  const cluster: AccountCluster = {
    store,
    keyring,
    admin,
    nodes,
    upstream,
    put,
    onBoth,
    post: (node, path, body, headers = {}) =>
      node.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    close: async () => {
      await Promise.all(nodes.map((n) => n.close(0)));
      await admin.close();
      await upstream.close();
      await store.close();
    },
  };
  await putRoutes(cluster);
  return cluster;
}

async function putRoutes(c: AccountCluster): Promise<void> {
  const plugins = (p: Record<string, unknown>) => ({ plugins: p });
  await c.put('/routes/ip', {
    uri: '/ip',
    plugins: { 'jwt-auth': {} },
    upstream: { nodes: { [c.upstream.node]: 1 } },
  });
  const signup = { rate_limit: { count: 100 }, jwt: { exp: 600 } };
  await c.put('/routes/signup', { uri: '/signup', ...plugins({ 'consumer-signup': signup }) });
  await c.put('/routes/signup-by-name', {
    uri: '/signup-by-name',
    ...plugins({ 'consumer-signup': { ...signup, key_from: 'username' } }),
  });
  await c.put('/routes/login', { uri: '/login', ...plugins({ 'password-login': LOCK }) });
  await c.put('/routes/logout', { uri: '/logout', ...plugins({ 'jwt-logout': {} }) });
}

/** Signs up through node 0 and waits until both nodes know the consumer. */
export async function signUp(
  c: AccountCluster,
  user: { username: string; email: string; password: string },
  path = '/signup',
): Promise<void> {
  const res = await c.post(c.nodes[0], path, user);
  assert.equal(res.status, 201, res.text);
  await c.onBoth((n) => n.sync.state.consumers.has(user.username));
}

/** Logs in through a node and returns the token. */
export async function logIn(
  c: AccountCluster,
  node: TestNode,
  credentials: Record<string, string>,
): Promise<string> {
  const res = await c.post(node, '/login', credentials);
  assert.equal(res.status, 200, res.text);
  return res.body.token as string;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function from(address: string): Record<string, string> {
  return { 'x-forwarded-for': address };
}
