/**
 * Tests that stop etcd need a process the harness owns. An etcd named by
 * TOLLGATE_TEST_ETCD is someone else's: the harness gives it no kill or
 * restart, and those tests are skipped with the reason instead of failing.
 */
import type { TestEtcd } from '../harness/etcd.js';

export type ControlledEtcd = TestEtcd & Required<Pick<TestEtcd, 'kill' | 'restart'>>;

const REASON = 'the harness cannot stop and restart an external etcd (TOLLGATE_TEST_ETCD)';

/** Returns etcd when it can be stopped and restarted; otherwise skips the calling test. */
export function requireEtcdControl(ctx: Mocha.Context, etcd: TestEtcd): ControlledEtcd {
  if (etcd.kill === undefined || etcd.restart === undefined) {
    // Mocha's skip() takes no reason; the reporter prints the pending test's title.
    if (ctx.test !== undefined) {
      ctx.test.title += ` (skipped: ${REASON})`;
    }
    ctx.skip();
  }
  return etcd as ControlledEtcd;
}
