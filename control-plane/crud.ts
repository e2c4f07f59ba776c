/**
 * One generic CRUD over the config store for every Admin API resource.
 *
 * Writes never lose an update: each read-modify-write ends in a
 * compare-and-set on the object's modify revision and is retried when another
 * writer got there first. Writers in this process also queue per key, so they
 * do not even collide; the compare-and-set guards against other processes.
 */
import { openConsumer, sealConsumer } from '../shared/consumer-secrets.js';
import { ApiError } from '../shared/errors.js';
import {
  EMAIL_DIR,
  ID_SEQUENCE_KEY,
  objectKey,
  resourceDir,
  revokedBeforeKey,
  revokedKey,
} from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { getPlugin } from '../shared/plugins/index.js';
import type { ResourceName } from '../shared/schema/resources.js';
import { ID_PATTERN, validateResource } from '../shared/schema/resources.js';
import { Keyring } from '../shared/secrets.js';
import type { CasResult, ConfigStore, KeyValue } from '../shared/store/types.js';
import { KeyedQueue } from './keyed-queue.js';
import { isPlainObject, mergePatch, setAtPath } from './patch.js';
import type { ResourceDef } from './resources.js';
import { RESOURCES, referrersOf } from './resources.js';

type Obj = Record<string, unknown>;

export interface StoredObject {
  key: string;
  value: unknown;
  createdIndex: number;
  modifiedIndex: number;
}

const MAX_CAS_ATTEMPTS = 16;
const LIST_PAGE_SIZE = 500;
const ID_REGEX = new RegExp(ID_PATTERN);
/** Consumers are named by username, which APISIX restricts further. */
const USERNAME_REGEX = /^[a-zA-Z0-9_-]{1,256}$/;

export interface CrudOptions {
  /** Seals consumer secrets before writing and opens them after reading. */
  keyring?: Keyring;
  /** Told about follow-up work that failed after a write succeeded. */
  logger?: Logger;
  /** Seconds since the epoch, for create_time and update_time. */
  now?: () => number;
}

export class Crud {
  readonly #store: ConfigStore;
  readonly #queue = new KeyedQueue();
  readonly #keyring: Keyring;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;

  constructor(store: ConfigStore, options: CrudOptions = {}) {
    this.#store = store;
    this.#keyring = options.keyring ?? new Keyring([]);
    this.#logger = options.logger;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  async get(def: ResourceDef, id: string): Promise<StoredObject> {
    checkId(def, id);
    const kv = await this.#store.get(objectKey(def.name, id));
    if (!kv) {
      throw new ApiError('OBJECT_NOT_FOUND');
    }
    return this.#wrap(def, kv);
  }

  /** Every object of a resource, read page by page at one revision. */
  async list(def: ResourceDef): Promise<StoredObject[]> {
    return (await this.#readAll(def.name)).map((kv) => this.#wrap(def, kv));
  }

  /** Creates or replaces; `created` tells which (201 or 200). */
  async put(def: ResourceDef, id: string, body: unknown): Promise<[StoredObject, boolean]> {
    checkId(def, id);
    const value = checkBody(def, body, id);
    const key = objectKey(def.name, id);

    return this.#queue.run(queueKey(def, key), () =>
      this.#casLoop(def, key, async (current) => {
        const next = { ...value };
        const now = this.#now();
        next.create_time = current ? (this.#open(def, current).create_time ?? now) : now;
        next.update_time = now;
        await this.#validate(def, next);
        return next;
      }),
    );
  }

  /** Creates with a server-generated id that sorts in creation order. */
  async post(def: ResourceDef, body: unknown): Promise<StoredObject> {
    if (isPlainObject(body) && body[def.idField] !== undefined) {
      throw new ApiError('ID_INVALID', `wrong ${def.kind} id, do not need it`);
    }
    const value = checkBody(def, body, undefined);
    const now = this.#now();
    const next: Obj = { ...value, create_time: now, update_time: now };

    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { revision } = await this.#store.put(ID_SEQUENCE_KEY, String(now));
      const id = String(revision).padStart(20, '0');
      const candidate = { ...structuredClone(next), id };
      await this.#validate(def, candidate);

      const key = objectKey(def.name, id);
      const res = await this.#store.create(key, this.#seal(def, candidate));
      if (res.succeeded) {
        return this.#wrapWritten(key, candidate, res.revision, res.revision);
      }
    }
    throw new ApiError('WRITE_CONFLICT');
  }

  /** Merges `body` into the object, or replaces the field at `subPath`. */
  async patch(
    def: ResourceDef,
    id: string,
    body: unknown,
    subPath?: string[],
  ): Promise<StoredObject> {
    checkId(def, id);
    if (body === undefined) {
      throw new ApiError('BODY_MISSING', 'missing new configuration');
    }
    if (subPath === undefined && !isPlainObject(body)) {
      throw new ApiError('SCHEMA_INVALID', 'invalid configuration: the body must be a JSON object');
    }
    const touched = subPath ?? Object.keys(body as Obj);
    forbidTimestamps(touched);
    const givenId = subPath === undefined ? (body as Obj)[def.idField] : undefined;
    if (subPath?.[0] === def.idField || (givenId !== undefined && String(givenId) !== id)) {
      throw new ApiError('ID_INVALID', `wrong ${def.kind} id`);
    }
    const key = objectKey(def.name, id);

    const [stored] = await this.#queue.run(queueKey(def, key), () =>
      this.#casLoop(def, key, async (current) => {
        if (!current) {
          throw new ApiError('OBJECT_NOT_FOUND');
        }
        const old = this.#open(def, current);
        const next =
          subPath === undefined ? mergePatch(old, body as Obj) : setAtPath(old, subPath, body);
        next[def.idField] = id;
        next.create_time = old.create_time ?? this.#now();
        next.update_time = this.#now();
        await this.#validate(def, next);
        return next;
      }),
    );
    return stored;
  }

  async delete(
    def: ResourceDef,
    id: string,
    force: boolean,
  ): Promise<{ deleted: string; key: string }> {
    checkId(def, id);
    const key = objectKey(def.name, id);

    return this.#queue.run(queueKey(def, key), async () => {
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        const current = await this.#store.get(key);
        if (!current) {
          throw new ApiError('OBJECT_NOT_FOUND');
        }
        if (!force) {
          await this.#refuseIfInUse(def, id);
        }
        const res = await this.#store.compareAndDelete(key, current.modRevision);
        if (res.succeeded) {
          if (def.name === 'consumers') {
            await this.#releaseAccountKeys(id);
          }
          return { deleted: '1', key: this.#store.prefix + key };
        }
      }
      throw new ApiError('WRITE_CONFLICT');
    });
  }

  /**
   * Reads the current value, lets `build` compute the next one, and writes it
   * only if nobody changed the key meanwhile; retries otherwise.
   */
  async #casLoop(
    def: ResourceDef,
    key: string,
    build: (current: KeyValue | undefined) => Promise<Obj>,
  ): Promise<[StoredObject, boolean]> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.#store.get(key);
      const next = await build(current);
      const text = this.#seal(def, next);

      const res: CasResult = current
        ? await this.#store.compareAndSet(key, text, current.modRevision)
        : await this.#store.create(key, text);
      if (res.succeeded) {
        const createdIndex = current?.createRevision ?? res.revision;
        return [this.#wrapWritten(key, next, createdIndex, res.revision), current === undefined];
      }
      await jitter(attempt);
    }
    throw new ApiError('WRITE_CONFLICT');
  }

  async #validate(def: ResourceDef, value: Obj): Promise<void> {
    def.prepare?.(value);
    const err = validateResource(def.name, value);
    if (err !== undefined) {
      throw new ApiError('SCHEMA_INVALID', `invalid configuration: ${err}`);
    }
    await this.#checkReferences(def, value);
    if (def.name === 'consumers') {
      await this.#checkCredentialKeys(value);
    }
  }

  /**
   * An auth plugin finds the consumer by its credential key (jwt-auth's
   * `key`), so two consumers may never share one.
   */
  // Limitation: this reads every consumer on each consumer write, and two
  // concurrent writers of the same key can both pass; an index kept under
  // /_tollgate would need multi-key transactions the store does not offer.
  async #checkCredentialKeys(value: Obj): Promise<void> {
    const wanted = credentialKeys(value);
    if (wanted.size === 0) {
      return;
    }
    for (const kv of await this.#readAll('consumers')) {
      const other = safeParse(kv.value);
      if (other === undefined || other.username === value.username) {
        continue;
      }
      for (const entry of credentialKeys(other)) {
        if (wanted.has(entry)) {
          const [plugin] = entry.split('\0');
          throw new ApiError(
            'CREDENTIAL_CONFLICT',
            `the ${plugin} key is already used by consumer [${String(other.username)}]`,
          );
        }
      }
    }
  }

  async #checkReferences(def: ResourceDef, value: Obj): Promise<void> {
    for (const { field, target } of def.references) {
      const ref = value[field];
      if (ref === undefined) {
        continue;
      }
      const exists = await this.#store.get(objectKey(target, String(ref)));
      if (!exists) {
        const kind = RESOURCES[target].kind;
        throw new ApiError(
          'REFERENCE_MISSING',
          `failed to fetch ${kind} info by ${kind} id [${String(ref)}]: not found`,
        );
      }
    }
  }

  // Limitation: the check and the delete are two steps, so an object that
  // starts referring to this one in between is not seen; etcd has no
  // cross-key constraint to close that window without a global lock.
  async #refuseIfInUse(def: ResourceDef, id: string): Promise<void> {
    for (const { resource, field } of referrersOf(def.name)) {
      for (const kv of await this.#readAll(resource.name)) {
        const value = safeParse(kv.value);
        if (value !== undefined && String(value[field]) === id) {
          const user = String(value.id ?? kv.key.split('/').pop());
          throw new ApiError(
            'OBJECT_IN_USE',
            `can not delete this ${def.kind}, ${resource.kind} [${user}] is still using it now`,
          );
        }
      }
    }
  }

  /**
   * Removes what the account plugins kept for a deleted consumer: the email
   * addresses it reserved at sign-up, so that they can sign up again, and
   * its logout records. The consumer is gone already, so a failure here is
   * logged rather than answered; each email is released by compare-and-delete,
   * so an address that has just been reserved by someone else stays theirs.
   */
  async #releaseAccountKeys(username: string): Promise<void> {
    try {
      for (const kv of await this.#readDir(EMAIL_DIR)) {
        if (kv.value === username) {
          await this.#store.compareAndDelete(kv.key, kv.modRevision);
        }
      }
      for (const kv of await this.#readDir(revokedKey(username, ''))) {
        await this.#store.delete(kv.key);
      }
      await this.#store.delete(revokedBeforeKey(username));
    } catch (err) {
      this.#logger?.error('failed to release the account keys of a deleted consumer', {
        consumer: username,
        error: (err as Error).message,
      });
    }
  }

  #readAll(resource: ResourceName): Promise<KeyValue[]> {
    return this.#readDir(resourceDir(resource));
  }

  /** Every key under a directory, read page by page at one revision. */
  async #readDir(dir: string): Promise<KeyValue[]> {
    const out: KeyValue[] = [];
    let after: string | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.#store.range(dir, {
        limit: LIST_PAGE_SIZE,
        after,
        revision,
      });
      out.push(...page.kvs);
      revision = page.revision;
      after = page.kvs.at(-1)?.key;
      if (!page.more || after === undefined) {
        return out;
      }
    }
  }

  /** The stored text of a value, its secrets sealed. */
  #seal(def: ResourceDef, value: Obj): string {
    return JSON.stringify(def.name === 'consumers' ? sealConsumer(value, this.#keyring) : value);
  }

  /** A stored value with its secrets opened; unreadable values come back as they are. */
  #open(def: ResourceDef, kv: KeyValue): Obj {
    const value = safeParse(kv.value) ?? {};
    return def.name === 'consumers' ? openConsumer(value, this.#keyring) : value;
  }

  #wrap(def: ResourceDef, kv: KeyValue): StoredObject {
    const parsed = safeParse(kv.value);
    return {
      key: this.#store.prefix + kv.key,
      value: parsed === undefined ? kv.value : this.#open(def, kv),
      createdIndex: kv.createRevision,
      modifiedIndex: kv.modRevision,
    };
  }

  #wrapWritten(key: string, value: Obj, created: number, modified: number): StoredObject {
    return { key: this.#store.prefix + key, value, createdIndex: created, modifiedIndex: modified };
  }
}

/**
 * Writers of one object queue behind each other. Consumer writes all share
 * one queue, because each checks that no other consumer holds its
 * credential key, and two such checks must not interleave.
 */
function queueKey(def: ResourceDef, key: string): string {
  return def.name === 'consumers' ? '/consumers/' : key;
}

function checkId(def: ResourceDef, id: string): void {
  const isUsername = def.idField === 'username';
  const ok = isUsername ? USERNAME_REGEX.test(id) : ID_REGEX.test(id) && id !== '.' && id !== '..';
  if (!ok) {
    const rule = isUsername
      ? '1-256 characters from a-z A-Z 0-9 - _'
      : '1-64 characters from a-z A-Z 0-9 - _ .';
    throw new ApiError('ID_INVALID', `invalid ${def.kind} id "${id.slice(0, 80)}": use ${rule}`);
  }
}

/** Checks a PUT or POST body and returns a copy carrying the id. */
function checkBody(def: ResourceDef, body: unknown, id: string | undefined): Obj {
  if (body === undefined) {
    throw new ApiError('BODY_MISSING');
  }
  if (!isPlainObject(body)) {
    throw new ApiError('SCHEMA_INVALID', 'invalid configuration: the body must be a JSON object');
  }
  forbidTimestamps(Object.keys(body));
  const given = body[def.idField];
  if (id !== undefined && given !== undefined && String(given) !== id) {
    throw new ApiError('ID_INVALID', `wrong ${def.kind} id`);
  }
  const value = structuredClone(body);
  if (id !== undefined) {
    value[def.idField] = id;
  }
  return value;
}

/** `plugin\0key` for every auth plugin credential key of a consumer. */
function credentialKeys(consumer: Obj): Set<string> {
  const out = new Set<string>();
  for (const [name, conf] of Object.entries((consumer.plugins ?? {}) as Obj)) {
    const key = (conf as Obj | null)?.key;
    if (getPlugin(name)?.type === 'auth' && typeof key === 'string') {
      out.add(`${name}\0${key}`);
    }
  }
  return out;
}

function forbidTimestamps(fields: string[]): void {
  const bad = fields.find((f) => f === 'create_time' || f === 'update_time');
  if (bad !== undefined) {
    throw new ApiError('PROPERTY_FORBIDDEN', `the property is forbidden: ${bad}`);
  }
}

function safeParse(text: string): Obj | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(50, 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
