/**
 * The setup most Admin API tests share: one etcd for the enclosing
 * `describe` block, and for each test a store under a fresh prefix with an
 * Admin API over it. Call it inside `describe`; read the fields in tests.
 */
import { createEtcdStore } from '../../shared/store/etcd.js';
import type { ConfigStore } from '../../shared/store/types.js';
import { startTestEtcd, uniquePrefix } from '../harness/etcd.js';
import type { TestEtcd } from '../harness/etcd.js';
import { startAdmin } from './admin.js';
import type { TestAdmin } from './admin.js';

export interface AdminFixture {
  readonly etcd: TestEtcd;
  readonly store: ConfigStore;
  readonly admin: TestAdmin;
}

export function adminOnEtcd(name: string, store: { timeoutMs?: number } = {}): AdminFixture {
  const fixture = {} as { etcd: TestEtcd; store: ConfigStore; admin: TestAdmin };
  before(async function () {
    fixture.etcd = await startTestEtcd();
  });
  after(async function () {
    await fixture.etcd?.stop();
  });
  beforeEach(async function () {
    const prefix = uniquePrefix(name);
    fixture.store = createEtcdStore({ endpoints: fixture.etcd.endpoints, prefix, ...store });
    fixture.admin = await startAdmin(fixture.store);
  });
  afterEach(async function () {
    await fixture.admin?.close();
    await fixture.store?.close();
  });
  return fixture;
}
