/**
 * Configuration: defaults, then a YAML file, then environment variables.
 *
 * Every setting has one row in SETTINGS: its path in the YAML file, the
 * environment variable that overrides it, and a parser that turns raw input
 * into a typed value or says what is wrong. A bad value stops start-up with a
 * ConfigError naming the setting, never a half-configured process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';

import { parseKeyring } from './secrets.js';
import type { KeyringEntry } from './secrets.js';

export type AdminRole = 'admin' | 'viewer';

export interface AdminKey {
  name: string;
  key: string;
  role: AdminRole;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface Config {
  admin: {
    listen: ListenAddress;
    keys: AdminKey[];
    /** Client networks allowed to reach the Admin API, as CIDRs. */
    allow: string[];
    maxBodyBytes: number;
  };
  gateway: {
    listen: ListenAddress;
    /** Worker processes sharing the port; 0 means one per CPU core. */
    workers: number;
    /** How long SIGTERM waits for requests in flight. */
    drainMs: number;
    /** Peers whose X-Forwarded-* and X-Real-IP headers are believed, as CIDRs. */
    trustedProxies: string[];
    maxHeaderBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
  };
  status: { listen: ListenAddress };
  accessLog: { enabled: boolean; format: 'json' | 'combined'; path: string };
  etcd: {
    /** Empty: use the embedded store in the data directory. */
    endpoints: string[];
    prefix: string;
    timeoutMs: number;
    username?: string;
    password?: string;
    tls: { caFile?: string; certFile?: string; keyFile?: string };
  };
  dataDir: string;
  /** Keys that encrypt secrets at rest; the first encrypts, all decrypt. */
  keyring: KeyringEntry[];
  log: { level: LogLevel };
}

export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'debug';

/** Raised for a setting that cannot be used; the message names the setting. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Parser<T> = (raw: unknown) => T;

interface Setting<T> {
  path: string;
  env?: string;
  /** Raw default, parsed like any other input. */
  default: unknown;
  parse: Parser<T>;
}

const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'http', 'debug'];

/** One row per setting; units are in the names (Ms, Bytes). */
const SETTINGS = {
  adminListen: setting('admin.listen', 'TOLLGATE_ADMIN_LISTEN', '0.0.0.0:9180', parseListen),
  adminKeys: setting('admin.keys', undefined, [], parseAdminKeys),
  adminAllow: setting(
    'admin.allow',
    'TOLLGATE_ADMIN_ALLOW',
    ['127.0.0.0/8', '::1/128'],
    listOf(parseCidr),
  ),
  adminMaxBodyBytes: setting(
    'admin.max_body_bytes',
    'TOLLGATE_ADMIN_MAX_BODY_BYTES',
    1_572_864,
    integerIn(1024, 64 * 1024 * 1024),
  ),
  gatewayListen: setting('gateway.listen', 'TOLLGATE_GATEWAY_LISTEN', '0.0.0.0:9080', parseListen),
  workers: setting('gateway.workers', 'TOLLGATE_WORKERS', 0, integerIn(0, 256)),
  drainMs: setting('gateway.drain_ms', 'TOLLGATE_DRAIN_MS', 10_000, integerIn(0, 600_000)),
  trustedProxies: setting(
    'gateway.trusted_proxies',
    'TOLLGATE_TRUSTED_PROXIES',
    [],
    listOf(parseCidr),
  ),
  maxHeaderBytes: setting(
    'gateway.max_header_bytes',
    'TOLLGATE_MAX_HEADER_BYTES',
    16_384,
    integerIn(1024, 1_048_576),
  ),
  headersTimeoutMs: setting(
    'gateway.headers_timeout_ms',
    'TOLLGATE_HEADERS_TIMEOUT_MS',
    10_000,
    integerIn(100, 600_000),
  ),
  requestTimeoutMs: setting(
    'gateway.request_timeout_ms',
    'TOLLGATE_REQUEST_TIMEOUT_MS',
    300_000,
    integerIn(0, 86_400_000),
  ),
  idleTimeoutMs: setting(
    'gateway.idle_timeout_ms',
    'TOLLGATE_IDLE_TIMEOUT_MS',
    60_000,
    integerIn(100, 3_600_000),
  ),
  statusListen: setting('status.listen', 'TOLLGATE_STATUS_LISTEN', '127.0.0.1:9090', parseListen),
  accessLogEnabled: setting('access_log.enabled', 'TOLLGATE_ACCESS_LOG', true, parseBoolean),
  accessLogFormat: setting(
    'access_log.format',
    'TOLLGATE_ACCESS_LOG_FORMAT',
    'json',
    oneOf(['json', 'combined'] as const),
  ),
  accessLogPath: setting('access_log.path', 'TOLLGATE_ACCESS_LOG_PATH', '', String),
  etcdEndpoints: setting('etcd.endpoints', 'TOLLGATE_ETCD_ENDPOINTS', [], parseUrls),
  etcdPrefix: setting('etcd.prefix', 'TOLLGATE_ETCD_PREFIX', '/apisix', parsePrefix),
  etcdTimeoutMs: setting(
    'etcd.timeout_ms',
    'TOLLGATE_ETCD_TIMEOUT_MS',
    3000,
    integerIn(100, 60_000),
  ),
  etcdUsername: setting('etcd.username', 'TOLLGATE_ETCD_USERNAME', '', String),
  etcdPassword: setting('etcd.password', 'TOLLGATE_ETCD_PASSWORD', '', String),
  etcdCaFile: setting('etcd.tls.ca_file', 'TOLLGATE_ETCD_CA_FILE', '', readableFile),
  etcdCertFile: setting('etcd.tls.cert_file', 'TOLLGATE_ETCD_CERT_FILE', '', readableFile),
  etcdKeyFile: setting('etcd.tls.key_file', 'TOLLGATE_ETCD_KEY_FILE', '', readableFile),
  dataDir: setting('data_dir', 'TOLLGATE_DATA_DIR', 'data', nonEmptyString),
  keyring: setting('secrets.keyring', 'TOLLGATE_KEYRING', [], parseKeyring),
  logLevel: setting('log.level', 'TOLLGATE_LOG_LEVEL', 'http', oneOf(LOG_LEVELS)),
};

/** Keys given only through the environment, each with a fixed name and role. */
const ENV_KEYS: readonly { env: string; name: string; role: AdminRole }[] = [
  { env: 'TOLLGATE_ADMIN_KEY', name: 'env-admin', role: 'admin' },
  { env: 'TOLLGATE_VIEWER_KEY', name: 'env-viewer', role: 'viewer' },
];

export const MIN_ADMIN_KEY_LENGTH = 16;

/**
 * The key conf/config.example.yaml ships with. A copy of the example would
 * otherwise make this published value a working key, so it is refused.
 */
export const PLACEHOLDER_ADMIN_KEY = 'change-me-to-a-long-random-string';

export interface LoadOptions {
  /** Path of the YAML file; when absent, TOLLGATE_CONFIG, then conf/config.yaml if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.TOLLGATE_CONFIG ?? defaultFile();
  const yaml = file === undefined ? {} : readYaml(file);

  const read = <T>(s: Setting<T>): T => resolve(s, yaml, env);
  const keys = [...read(SETTINGS.adminKeys), ...envKeys(env)];
  checkUniqueKeys(keys);

  const config: Config = {
    admin: {
      listen: read(SETTINGS.adminListen),
      keys,
      allow: read(SETTINGS.adminAllow),
      maxBodyBytes: read(SETTINGS.adminMaxBodyBytes),
    },
    gateway: {
      listen: read(SETTINGS.gatewayListen),
      workers: read(SETTINGS.workers),
      drainMs: read(SETTINGS.drainMs),
      trustedProxies: read(SETTINGS.trustedProxies),
      maxHeaderBytes: read(SETTINGS.maxHeaderBytes),
      headersTimeoutMs: read(SETTINGS.headersTimeoutMs),
      requestTimeoutMs: read(SETTINGS.requestTimeoutMs),
      idleTimeoutMs: read(SETTINGS.idleTimeoutMs),
    },
    status: { listen: read(SETTINGS.statusListen) },
    accessLog: {
      enabled: read(SETTINGS.accessLogEnabled),
      format: read(SETTINGS.accessLogFormat),
      path: read(SETTINGS.accessLogPath),
    },
    etcd: readEtcd(read),
    dataDir: read(SETTINGS.dataDir),
    keyring: read(SETTINGS.keyring),
    log: { level: read(SETTINGS.logLevel) },
  };
  return deepFreeze(config);
}

function readEtcd(read: <T>(s: Setting<T>) => T): Config['etcd'] {
  const optional = (value: string) => (value === '' ? undefined : value);
  const etcd: Config['etcd'] = {
    endpoints: read(SETTINGS.etcdEndpoints),
    prefix: read(SETTINGS.etcdPrefix),
    timeoutMs: read(SETTINGS.etcdTimeoutMs),
    username: optional(read(SETTINGS.etcdUsername)),
    password: optional(read(SETTINGS.etcdPassword)),
    tls: {
      caFile: optional(read(SETTINGS.etcdCaFile)),
      certFile: optional(read(SETTINGS.etcdCertFile)),
      keyFile: optional(read(SETTINGS.etcdKeyFile)),
    },
  };
  if ((etcd.username === undefined) !== (etcd.password === undefined)) {
    throw new ConfigError('invalid setting etcd.username/etcd.password: set both or neither');
  }
  if ((etcd.tls.certFile === undefined) !== (etcd.tls.keyFile === undefined)) {
    throw new ConfigError('invalid setting etcd.tls.cert_file/key_file: set both or neither');
  }
  return etcd;
}

/** Environment variables this module reads, for documentation and deploy checks. */
export function configEnvNames(): string[] {
  const fromSettings = Object.values(SETTINGS).flatMap((s) => (s.env ? [s.env] : []));
  return ['TOLLGATE_CONFIG', ...fromSettings, ...ENV_KEYS.map((k) => k.env)];
}

function setting<T>(
  path: string,
  env: string | undefined,
  def: unknown,
  parse: Parser<T>,
): Setting<T> {
  return { path, env, default: def, parse };
}

function resolve<T>(s: Setting<T>, yaml: Record<string, unknown>, env: NodeJS.ProcessEnv): T {
  const fromEnv = s.env === undefined ? undefined : env[s.env];
  const fromYaml = lookup(yaml, s.path);
  const raw = (fromEnv !== undefined && fromEnv !== '' ? fromEnv : fromYaml) ?? s.default;
  try {
    return s.parse(raw);
  } catch (err) {
    const where = fromEnv !== undefined && fromEnv !== '' ? `${s.env} (${s.path})` : s.path;
    throw new ConfigError(`invalid setting ${where}: ${(err as Error).message}`);
  }
}

function lookup(obj: Record<string, unknown>, path: string): unknown {
  let node: unknown = obj;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function defaultFile(): string | undefined {
  return existsSync('conf/config.yaml') ? 'conf/config.yaml' : undefined;
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) {
    return {};
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`config file ${file} must hold a mapping at the top level`);
  }
  return doc as Record<string, unknown>;
}

function envKeys(env: NodeJS.ProcessEnv): AdminKey[] {
  const keys: AdminKey[] = [];
  for (const { env: name, name: keyName, role } of ENV_KEYS) {
    const value = env[name];
    if (value === undefined || value === '') {
      continue;
    }
    try {
      keys.push({ name: keyName, key: parseKey(value), role });
    } catch (err) {
      throw new ConfigError(`invalid setting ${name}: ${(err as Error).message}`);
    }
  }
  return keys;
}

function checkUniqueKeys(keys: AdminKey[]): void {
  const names = new Set<string>();
  const values = new Set<string>();
  for (const k of keys) {
    if (names.has(k.name)) {
      throw new ConfigError(`invalid setting admin.keys: the name "${k.name}" is used twice`);
    }
    if (values.has(k.key)) {
      throw new ConfigError(`invalid setting admin.keys: key "${k.name}" repeats another key`);
    }
    names.add(k.name);
    values.add(k.key);
  }
}

function parseAdminKeys(raw: unknown): AdminKey[] {
  if (!Array.isArray(raw)) {
    throw new Error('expected a list of {name, key, role}');
  }
  return raw.map((item: unknown, i) => {
    if (item === null || typeof item !== 'object') {
      throw new Error(`entry ${i} must be a mapping with name, key and role`);
    }
    const { name, key, role } = item as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new Error(
        `entry ${i}: name must be 1-64 characters of letters, digits, "_", "." or "-"`,
      );
    }
    if (role !== 'admin' && role !== 'viewer') {
      throw new Error(`entry ${i} (${name}): role must be "admin" or "viewer"`);
    }
    try {
      return { name, key: parseKey(key), role };
    } catch (err) {
      throw new Error(`entry ${i} (${name}): ${(err as Error).message}`);
    }
  });
}

function parseKey(raw: unknown): string {
  if (typeof raw !== 'string') {
    throw new Error('the key must be a string');
  }
  if (raw.length < MIN_ADMIN_KEY_LENGTH || raw.length > 256 || !/^[\x21-\x7e]+$/.test(raw)) {
    throw new Error(
      `the key must be ${MIN_ADMIN_KEY_LENGTH} to 256 printable ASCII characters without spaces`,
    );
  }
  if (raw === PLACEHOLDER_ADMIN_KEY) {
    throw new Error(
      `the key is the placeholder "${PLACEHOLDER_ADMIN_KEY}" from conf/config.example.yaml; ` +
        'set a long random key instead (for example the output of: openssl rand -hex 32)',
    );
  }
  return raw;
}

export function parseListen(raw: unknown): ListenAddress {
  const text = String(raw).trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) {
    throw new Error(`expected host:port (for example 0.0.0.0:9180 or [::]:9180), got "${text}"`);
  }
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) {
    throw new Error(`port must be 0-65535, got ${port}`);
  }
  if (m[1] !== undefined && isIP(host) !== 6) {
    throw new Error(`"${host}" is not an IPv6 address`);
  }
  if (m[2] !== undefined && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new Error(`"${host}" is not a host name or IPv4 address`);
  }
  return { host, port };
}

export function parseCidr(raw: unknown): string {
  const text = String(raw).trim();
  const [addr = '', bits, extra] = text.split('/');
  const family = isIP(addr);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined) {
    throw new Error(`expected an IP address or CIDR, got "${text}"`);
  }
  if (bits === undefined) {
    return `${addr}/${max}`;
  }
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
    throw new Error(`prefix length of "${text}" must be 0-${max}`);
  }
  return `${addr}/${Number(bits)}`;
}

function parseUrls(raw: unknown): string[] {
  return splitList(raw).map((url) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`"${url}" is not a URL (expected http://host:port)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`"${url}" must use http:// or https://`);
    }
    return `${parsed.protocol}//${parsed.host}`;
  });
}

function parsePrefix(raw: unknown): string {
  const text = String(raw);
  if (!/^\/[A-Za-z0-9_.\-/]*$/.test(text) || text.endsWith('/') || text.includes('//')) {
    throw new Error(
      `expected a key prefix like /apisix (leading "/", no trailing "/"), got "${text}"`,
    );
  }
  return text;
}

/** A path that must be readable now, so a typo stops start-up instead of the first connection. */
function readableFile(raw: unknown): string {
  const path = String(raw);
  if (path === '') {
    return path;
  }
  try {
    readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return path;
}

function nonEmptyString(raw: unknown): string {
  const text = String(raw);
  if (text.trim() === '') {
    throw new Error('must not be empty');
  }
  return text;
}

function integerIn(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = typeof raw === 'number' ? raw : Number(String(raw).trim());
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`expected an integer from ${min} to ${max}, got "${String(raw)}"`);
    }
    return n;
  };
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (raw) => {
    const text = String(raw);
    if (!(values as readonly string[]).includes(text)) {
      throw new Error(`expected one of ${values.join(', ')}, got "${text}"`);
    }
    return text as T;
  };
}

function parseBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') {
    return raw;
  }
  const text = String(raw).trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) {
    return true;
  }
  if (['false', '0', 'no', 'off'].includes(text)) {
    return false;
  }
  throw new Error(`expected true or false, got "${String(raw)}"`);
}

function listOf<T>(parse: Parser<T>): Parser<T[]> {
  return (raw) => splitList(raw).map(parse);
}

/** Splits a list; a value that is set but names nothing is a mistake, not "none". */
function splitList(raw: unknown): string[] {
  const items = Array.isArray(raw) ? raw.map(String) : String(raw).split(',');
  const list = items.map((s) => s.trim()).filter((s) => s !== '');
  const given = Array.isArray(raw) ? raw.length > 0 : String(raw).trim() !== '';
  if (given && list.length === 0) {
    throw new Error(`"${String(raw)}" names nothing`);
  }
  return list;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    for (const v of Object.values(value)) {
      deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}
