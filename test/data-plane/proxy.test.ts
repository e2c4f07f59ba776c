import assert from 'node:assert/strict';

import { UpstreamError, upstreamErrorStatus } from '../../data-plane/proxy.js';

describe('upstreamErrorStatus', function () {
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const table: [string, unknown, number][] = [
    ['a connect failure', new UpstreamError('connect', 'x'), 502],
    ['a timeout', new UpstreamError('timeout', 'x'), 504],
    ['a reset after connecting', new UpstreamError('reset', 'x'), 502],
    ['no node to pick', new UpstreamError('no-node', 'x'), 503],
    ['ECONNREFUSED', errno('ECONNREFUSED'), 502],
    ['ECONNRESET', errno('ECONNRESET'), 502],
    ['ENOTFOUND', errno('ENOTFOUND'), 502],
    ['ETIMEDOUT', errno('ETIMEDOUT'), 504],
    ['a malformed upstream response', errno('HPE_INVALID_CONSTANT'), 502],
    ['anything else', new Error('boom'), 500],
  ];
  for (const [what, err, status] of table) {
    it(`should answer ${status} for ${what}`, function () {
      assert.equal(upstreamErrorStatus(err), status);
    });
  }
});
