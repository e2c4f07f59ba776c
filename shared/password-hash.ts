/**
 * Password hashes for password-login: scrypt from node:crypto, stored as
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` so the cost can be raised
 * later without invalidating the hashes already stored.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { ScryptOptions } from 'node:crypto';

const COST = { N: 16384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on stored parameters, so a stored hash cannot make one check take minutes. */
const MAX_MEMORY_BYTES = 64 * 1024 * 1024;
const MAX_P = 16;

const B64 = '[A-Za-z0-9+/]+={0,2}';
export const PASSWORD_HASH_PATTERN = `^scrypt\\$[0-9]{1,8}\\$[0-9]{1,3}\\$[0-9]{1,3}\\$${B64}\\$${B64}$`;

/**
 * Checked when the account is unknown, so an unknown name costs the same
 * scrypt work as a wrong password. Salt and hash are random bytes: no
 * password matches them.
 */
export const DUMMY_HASH =
  'scrypt$16384$8$1$n6y4BLUwmwVjf5RpG3Rf5Q==$7tS0QGMZ6lJ8Qy4bqzXGq0a8R2vVwD8P7nC3h8xjLeM=';

interface ParsedHash {
  options: ScryptOptions;
  salt: Buffer;
  hash: Buffer;
}

function derive(password: string, salt: Buffer, length: number, options: ScryptOptions) {
  // Room for the largest accepted parameters: 128 * N * r bytes, plus slack.
  const maxmem = 128 * (options.N ?? COST.N) * (options.r ?? COST.r) + 1024 * 1024;
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, { ...options, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, KEY_BYTES, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), hash.toString('base64')].join(
    '$',
  );
}

/** Returns why a stored hash cannot be used, or undefined when it can. */
export function checkPasswordHash(encoded: string): string | undefined {
  return parseHash(encoded) ? undefined : 'not an scrypt hash with usable parameters';
}

function parseHash(encoded: string): ParsedHash | undefined {
  if (!new RegExp(PASSWORD_HASH_PATTERN).test(encoded)) {
    return undefined;
  }
  const [, n = '', r = '', p = '', salt = '', hash = ''] = encoded.split('$');
  const options = { N: Number(n), r: Number(r), p: Number(p) };
  const powerOfTwo = options.N > 1 && (options.N & (options.N - 1)) === 0;
  const inRange = options.r >= 1 && 128 * options.N * options.r <= MAX_MEMORY_BYTES;
  if (!powerOfTwo || !inRange || options.p < 1 || options.p > MAX_P) {
    return undefined;
  }
  const parsed = { options, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  return parsed.salt.length >= 8 && parsed.hash.length >= 16 ? parsed : undefined;
}

/** Runs scrypt even when the stored hash is unusable, so every answer costs the same. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  const target = parsed ?? (parseHash(DUMMY_HASH) as ParsedHash);
  const actual = await derive(password, target.salt, target.hash.length, target.options);
  return parsed !== undefined && timingSafeEqual(actual, target.hash);
}
