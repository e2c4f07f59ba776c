/**
 * Schemas of the Admin API resources, as APISIX 3.x defines them, plus the
 * checks a schema cannot express. Both planes use them: the control plane
 * before it writes, the data plane again when it reads a value from etcd.
 */
import { parseCidr } from '../config.js';
import { checkPlugins } from '../plugins/index.js';
import { compileSafeRegex, RegexError } from '../safe-regex.js';
import type { JsonSchema } from './validate.js';
import { compile } from './validate.js';

export const ID_PATTERN = '^[a-zA-Z0-9-_.]{1,64}$';

const idSchema = { type: 'string', pattern: ID_PATTERN };
const timestamp = { type: 'integer' };
const nameDef = { type: 'string', minLength: 1, maxLength: 256 };
const descDef = { type: 'string', maxLength: 256 };
const hostDef = { type: 'string', pattern: '^\\*?[0-9a-zA-Z-._\\[\\]:]+$', maxLength: 255 };
const labelsDef = {
  type: 'object',
  additionalProperties: { type: 'string', pattern: '^\\S+$', minLength: 1, maxLength: 256 },
};
const pluginsDef = { type: 'object' };
const metadata = {
  id: idSchema,
  name: nameDef,
  desc: descDef,
  labels: labelsDef,
  create_time: timestamp,
  update_time: timestamp,
};

export const HTTP_METHODS = [
  'GET',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'CONNECT',
  'TRACE',
  'PURGE',
] as const;

const timeoutDef = {
  type: 'object',
  properties: {
    connect: { type: 'number', exclusiveMinimum: 0 },
    send: { type: 'number', exclusiveMinimum: 0 },
    read: { type: 'number', exclusiveMinimum: 0 },
  },
  required: ['connect', 'send', 'read'],
  additionalProperties: false,
};

const nodesDef = {
  anyOf: [
    { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
    {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          host: hostDef,
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          weight: { type: 'integer', minimum: 0 },
          priority: { type: 'integer' },
          metadata: { type: 'object' },
        },
        required: ['host', 'weight'],
        additionalProperties: false,
      },
    },
  ],
};

export const BALANCER_TYPES = ['roundrobin', 'chash', 'least_conn'] as const;

const upstreamSchema = {
  type: 'object',
  properties: {
    ...metadata,
    nodes: nodesDef,
    retries: { type: 'integer', minimum: 0 },
    retry_timeout: { type: 'number', minimum: 0 },
    timeout: timeoutDef,
    type: { type: 'string', enum: BALANCER_TYPES, default: 'roundrobin' },
    hash_on: {
      type: 'string',
      enum: ['vars', 'header', 'cookie', 'consumer'],
      default: 'vars',
    },
    key: { type: 'string', minLength: 1 },
    scheme: { type: 'string', enum: ['http', 'https'], default: 'http' },
    pass_host: { type: 'string', enum: ['pass', 'node', 'rewrite'], default: 'pass' },
    upstream_host: hostDef,
    keepalive_pool: {
      type: 'object',
      properties: {
        size: { type: 'integer', minimum: 1, default: 320 },
        idle_timeout: { type: 'number', minimum: 0, default: 60 },
        requests: { type: 'integer', minimum: 1, default: 1000 },
      },
      additionalProperties: false,
    },
  },
  required: ['nodes'],
  additionalProperties: false,
};

const routeSchema = {
  type: 'object',
  properties: {
    ...metadata,
    uri: { type: 'string', minLength: 1, maxLength: 4096 },
    uris: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 4096 },
      minItems: 1,
      uniqueItems: true,
    },
    priority: { type: 'integer', default: 0 },
    methods: { type: 'array', items: { type: 'string', enum: HTTP_METHODS }, uniqueItems: true },
    host: hostDef,
    hosts: { type: 'array', items: hostDef, minItems: 1, uniqueItems: true },
    remote_addr: { type: 'string' },
    remote_addrs: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true },
    timeout: timeoutDef,
    vars: { type: 'array' },
    plugins: pluginsDef,
    plugin_config_id: idSchema,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    service_id: idSchema,
    enable_websocket: { type: 'boolean' },
    status: { type: 'integer', enum: [0, 1], default: 1 },
  },
  additionalProperties: false,
};

const serviceSchema = {
  type: 'object',
  properties: {
    ...metadata,
    plugins: pluginsDef,
    upstream: upstreamSchema,
    upstream_id: idSchema,
    enable_websocket: { type: 'boolean' },
    hosts: { type: 'array', items: hostDef, minItems: 1, uniqueItems: true },
  },
  additionalProperties: false,
};

const consumerSchema = {
  type: 'object',
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[a-zA-Z0-9_\\-]+$' },
    desc: descDef,
    labels: labelsDef,
    create_time: timestamp,
    update_time: timestamp,
    plugins: pluginsDef,
  },
  required: ['username'],
  additionalProperties: false,
};

const pluginConfigSchema = {
  type: 'object',
  properties: { ...metadata, plugins: pluginsDef },
  required: ['plugins'],
  additionalProperties: false,
};

const globalRuleSchema = {
  type: 'object',
  properties: { id: idSchema, create_time: timestamp, update_time: timestamp, plugins: pluginsDef },
  required: ['plugins'],
  additionalProperties: false,
};

export type ResourceName =
  'routes' | 'services' | 'upstreams' | 'consumers' | 'plugin_configs' | 'global_rules';

export const SCHEMAS: Record<ResourceName, JsonSchema> = {
  routes: routeSchema,
  services: serviceSchema,
  upstreams: upstreamSchema,
  consumers: consumerSchema,
  plugin_configs: pluginConfigSchema,
  global_rules: globalRuleSchema,
};

const VALIDATORS = Object.fromEntries(
  Object.entries(SCHEMAS).map(([name, schema]) => [name, compile(schema)]),
) as Record<ResourceName, ReturnType<typeof compile>>;

type Obj = Record<string, unknown>;

/**
 * Validates one resource value (filling schema defaults in place). Returns a
 * message naming the field, or undefined when the value may be stored.
 */
export function validateResource(resource: ResourceName, value: unknown): string | undefined {
  const schemaError = VALIDATORS[resource](value);
  if (schemaError !== undefined) {
    return schemaError;
  }
  const obj = value as Obj;
  return checkExtra(resource, obj) ?? checkPluginsOf(resource, obj);
}

function checkExtra(resource: ResourceName, obj: Obj): string | undefined {
  switch (resource) {
    case 'routes':
      return checkRoute(obj);
    case 'services':
      return obj.upstream === undefined
        ? undefined
        : checkUpstream(obj.upstream as Obj, 'upstream.');
    case 'upstreams':
      return checkUpstream(obj, '');
    default:
      return undefined;
  }
}

function checkPluginsOf(resource: ResourceName, obj: Obj): string | undefined {
  if (obj.plugins === undefined) {
    return undefined;
  }
  return checkPlugins(obj.plugins as Obj, resource === 'consumers' ? 'consumer' : 'route');
}

function exclusive(obj: Obj, a: string, b: string): string | undefined {
  return obj[a] !== undefined && obj[b] !== undefined
    ? `only one of "${a}" and "${b}" may be set`
    : undefined;
}

function checkRoute(route: Obj): string | undefined {
  if (route.uri === undefined && route.uris === undefined) {
    return 'property "uri" is required';
  }
  const uris = (route.uris as string[] | undefined) ?? [route.uri as string];
  const badUri = uris.find((u) => !u.startsWith('/'));
  const needsTarget = ['plugins', 'upstream', 'upstream_id', 'service_id', 'plugin_config_id'];
  if (badUri !== undefined) {
    return `property "uri" validation failed: "${badUri}" must start with "/"`;
  }
  if (!needsTarget.some((k) => route[k] !== undefined)) {
    return 'one of "plugins", "upstream", "upstream_id", "service_id" or "plugin_config_id" is required';
  }
  return (
    exclusive(route, 'uri', 'uris') ??
    exclusive(route, 'host', 'hosts') ??
    exclusive(route, 'remote_addr', 'remote_addrs') ??
    checkRemoteAddrs(route) ??
    checkVars(route.vars) ??
    (route.upstream === undefined ? undefined : checkUpstream(route.upstream as Obj, 'upstream.'))
  );
}

function checkRemoteAddrs(route: Obj): string | undefined {
  const addrs = [...((route.remote_addrs as string[] | undefined) ?? [])];
  if (typeof route.remote_addr === 'string') {
    addrs.push(route.remote_addr);
  }
  for (const addr of addrs) {
    try {
      parseCidr(addr);
    } catch (err) {
      return `property "remote_addrs" validation failed: ${(err as Error).message}`;
    }
  }
  return undefined;
}

export const VAR_OPERATORS = ['==', '~=', '>', '<', '>=', '<=', '~~', '~*', 'in', 'has'] as const;

function checkVars(vars: unknown): string | undefined {
  if (vars === undefined) {
    return undefined;
  }
  const rules = vars as unknown[];
  for (const [i, rule] of rules.entries()) {
    const err = checkVarRule(rule);
    if (err !== undefined) {
      return `property "vars[${i}]" validation failed: ${err}`;
    }
  }
  return undefined;
}

function checkVarRule(rule: unknown): string | undefined {
  if (!Array.isArray(rule) || rule.length < 3 || rule.length > 4) {
    return 'expected [variable, operator, value] or [variable, "!", operator, value]';
  }
  const [name, ...rest] = rule as unknown[];
  const negated = rest[0] === '!';
  const [op, operand] = negated ? rest.slice(1) : rest;
  if (typeof name !== 'string' || name === '') {
    return 'the variable name must be a non-empty string';
  }
  if (!(VAR_OPERATORS as readonly unknown[]).includes(op) || (rule.length === 4 && !negated)) {
    return `unknown operator ${JSON.stringify(op)}; expected one of ${VAR_OPERATORS.join(' ')}`;
  }
  if (op === 'in' && !Array.isArray(operand)) {
    return 'the operator "in" takes an array';
  }
  if (op === '~~' || op === '~*') {
    // The data plane matches on RE2, in linear time; refuse here what it
    // could not compile, so that nothing unsafe is ever stored.
    if (typeof operand !== 'string') {
      return `a regular expression needs a string, got ${JSON.stringify(operand)}`;
    }
    try {
      compileSafeRegex(operand, op === '~*');
    } catch (err) {
      if (err instanceof RegexError) {
        return err.message;
      }
      throw err;
    }
  }
  return undefined;
}

/** Splits a `host:port` node key; the port is absent when the key has none. */
export function parseNodeKey(key: string): { host: string; port?: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(key);
  if (!m) {
    return undefined;
  }
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) {
    return undefined;
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

function checkUpstream(up: Obj, at: string): string | undefined {
  if (up.nodes !== null && !Array.isArray(up.nodes) && typeof up.nodes === 'object') {
    const bad = Object.keys(up.nodes as Obj).find((k) => parseNodeKey(k) === undefined);
    if (bad !== undefined) {
      return `property "${at}nodes" validation failed: "${bad}" is not host:port`;
    }
  }
  if (up.pass_host === 'rewrite' && up.upstream_host === undefined) {
    return `property "${at}upstream_host" is required when "pass_host" is rewrite`;
  }
  if (up.type === 'chash' && up.key === undefined && up.hash_on !== 'consumer') {
    return `property "${at}key" is required when "type" is chash`;
  }
  return undefined;
}
