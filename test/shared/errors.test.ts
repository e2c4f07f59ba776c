import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { ERRORS } from '../../shared/errors.js';

describe('error catalogue', function () {
  it('should document every code with its status in docs/errors.md', function () {
    const doc = readFileSync('docs/errors.md', 'utf8');
    for (const [code, { status }] of Object.entries(ERRORS)) {
      assert.match(doc, new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`), code);
    }
  });
});
