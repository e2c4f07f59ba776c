import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import { Keyring, SecretError, isEncrypted, parseKeyring } from '../../shared/secrets.js';

const entry = (id: string) => ({ id, key: randomBytes(32) });

describe('Keyring', function () {
  it('should encrypt with the first key and decrypt with any key of the ring', function () {
    const [a, b] = [entry('a'), entry('b')];
    const sealed = new Keyring([a]).encrypt('my-secret');
    assert.ok(isEncrypted(sealed));
    assert.ok(!sealed.includes('my-secret'));
    assert.equal(new Keyring([b, a]).decrypt(sealed), 'my-secret');
    assert.match(new Keyring([b, a]).encrypt('x'), /^\$tg1\$b\$/);
  });

  it('should refuse a value whose key left the ring, or that was tampered with', function () {
    const a = entry('a');
    const sealed = new Keyring([a]).encrypt('my-secret');
    assert.throws(() => new Keyring([entry('b')]).decrypt(sealed), SecretError);
    const tampered = sealed.slice(0, -3) + (sealed.endsWith('AAA') ? 'BBB' : 'AAA');
    assert.throws(() => new Keyring([a]).decrypt(tampered), /failed to decrypt/);
  });

  it('should pass plain values through, and store plainly with an empty ring', function () {
    assert.equal(new Keyring([entry('a')]).decrypt('plain'), 'plain');
    assert.equal(new Keyring([]).encrypt('plain'), 'plain');
  });
});

describe('parseKeyring', function () {
  it('should read id:base64 entries', function () {
    const key = randomBytes(32).toString('base64');
    const ring = parseKeyring(`new:${key}, old:${key}`);
    assert.deepEqual(
      ring.map((e) => e.id),
      ['new', 'old'],
    );
  });

  it('should refuse short keys, bad ids and repeated ids', function () {
    const key = randomBytes(32).toString('base64');
    assert.throws(() => parseKeyring(`a:${randomBytes(16).toString('base64')}`), /32 bytes/);
    assert.throws(() => parseKeyring(`:${key}`), /<id>:<base64 key>/);
    assert.throws(() => parseKeyring(`a:${key},a:${key}`), /unique/);
  });
});
