/**
 * Encryption at rest for secrets inside stored objects (consumer secrets,
 * private keys), with AES-256-GCM under a keyring.
 *
 * The first key of the keyring encrypts; every key decrypts, found by the id
 * written into each value, so objects written before a key rotation stay
 * readable as long as the old key stays in the ring. An encrypted value is
 * one string: `$tg1$<key id>$<iv>$<ciphertext>$<tag>`, parts in base64url.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const PREFIX = '$tg1$';
const IV_BYTES = 12;

export interface KeyringEntry {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

export class Keyring {
  readonly #entries: ReadonlyMap<string, Buffer>;
  readonly #active: KeyringEntry | undefined;

  constructor(entries: readonly KeyringEntry[]) {
    this.#entries = new Map(entries.map((e) => [e.id, e.key]));
    this.#active = entries[0];
  }

  /** True when values are encrypted on write; an empty ring stores them as they are. */
  get enabled(): boolean {
    return this.#active !== undefined;
  }

  encrypt(plain: string): string {
    if (!this.#active || isEncrypted(plain)) {
      return plain;
    }
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#active.key, iv);
    cipher.setAAD(Buffer.from(this.#active.id));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const parts = [iv, body, cipher.getAuthTag()].map((b) => b.toString('base64url'));
    return `${PREFIX}${this.#active.id}$${parts.join('$')}`;
  }

  /** Plain values pass through, so data written before encryption was enabled stays readable. */
  decrypt(value: string): string {
    if (!isEncrypted(value)) {
      return value;
    }
    const [id = '', iv = '', body = '', tag = ''] = value.slice(PREFIX.length).split('$');
    const key = this.#entries.get(id);
    if (!key) {
      throw new SecretError(`no key "${id}" in the keyring to decrypt a stored secret`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch {
      throw new SecretError(`a stored secret failed to decrypt with key "${id}"`);
    }
  }
}

export function isEncrypted(value: string): boolean {
  return value.startsWith(PREFIX);
}

/** Parses `id:base64key` entries, each key 32 bytes, as TOLLGATE_KEYRING gives them. */
export function parseKeyring(raw: unknown): KeyringEntry[] {
  const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(',');
  const entries = items
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((item) => {
      const colon = item.indexOf(':');
      const id = item.slice(0, colon);
      const key = Buffer.from(item.slice(colon + 1), 'base64');
      if (colon < 1 || !/^[A-Za-z0-9_.-]{1,32}$/.test(id)) {
        throw new Error('each entry must be <id>:<base64 key>, the id 1-32 of A-Z a-z 0-9 _ . -');
      }
      if (key.length !== 32) {
        throw new Error(`key "${id}" must be 32 bytes of base64 (openssl rand -base64 32)`);
      }
      return { id, key };
    });
  const ids = new Set(entries.map((e) => e.id));
  if (ids.size !== entries.length) {
    throw new Error('key ids must be unique');
  }
  return entries;
}
