/**
 * The plugin registry: every plugin Tollgate knows, checked and sorted once.
 */
import { compile } from '../schema/validate.js';
import type { Validator } from '../schema/validate.js';
import { consumerSignup } from './consumer-signup.js';
import { jwtAuth } from './jwt-auth.js';
import { jwtLogout } from './jwt-logout.js';
import { passwordLogin } from './password-login.js';
import { publicApi } from './public-api.js';
import type { PluginDescriptor } from './types.js';

export type { PluginDescriptor } from './types.js';

interface RegisteredPlugin {
  descriptor: PluginDescriptor;
  validate: Validator;
  validateConsumer?: Validator;
}

const BUILT_IN: readonly PluginDescriptor[] = [
  jwtAuth,
  publicApi,
  consumerSignup,
  passwordLogin,
  jwtLogout,
];

function register(list: readonly PluginDescriptor[]): Map<string, RegisteredPlugin> {
  const byName = new Map<string, RegisteredPlugin>();
  const sorted = [...list].sort((a, b) => b.priority - a.priority);
  for (const descriptor of sorted) {
    if (byName.has(descriptor.name)) {
      throw new Error(`plugin ${descriptor.name} is registered twice`);
    }
    byName.set(descriptor.name, {
      descriptor,
      validate: compile(descriptor.schema),
      validateConsumer: descriptor.consumerSchema ? compile(descriptor.consumerSchema) : undefined,
    });
  }
  return byName;
}

const REGISTRY = register(BUILT_IN);

/** Plugin names, highest priority first. */
export function pluginNames(): string[] {
  return [...REGISTRY.values()]
    .sort((a, b) => b.descriptor.priority - a.descriptor.priority)
    .map((p) => p.descriptor.name);
}

export function getPlugin(name: string): PluginDescriptor | undefined {
  return REGISTRY.get(name)?.descriptor;
}

export type PluginScope = 'route' | 'consumer';

/**
 * Validates a `plugins` object (filling defaults in place). Returns a message
 * in APISIX's style, or undefined when every plugin configuration is valid.
 */
export function checkPlugins(
  plugins: Record<string, unknown>,
  scope: PluginScope,
): string | undefined {
  for (const [name, conf] of Object.entries(plugins)) {
    const plugin = REGISTRY.get(name);
    if (!plugin) {
      return `unknown plugin [${name}]`;
    }
    const validate = scope === 'consumer' ? plugin.validateConsumer : plugin.validate;
    if (!validate) {
      return `plugin [${name}] cannot be configured on a consumer`;
    }
    const err = validate(conf) ?? checkConsumerExtra(plugin, conf, scope);
    if (err !== undefined) {
      return `failed to check the configuration of plugin ${name} err: ${err}`;
    }
  }
  return undefined;
}

function checkConsumerExtra(
  plugin: RegisteredPlugin,
  conf: unknown,
  scope: PluginScope,
): string | undefined {
  if (scope !== 'consumer' || !plugin.descriptor.checkConsumer) {
    return undefined;
  }
  return plugin.descriptor.checkConsumer(conf as Record<string, unknown>);
}

/**
 * Adds a plugin to the registry, for embedders with their own plugins; a
 * name that is already taken is refused.
 */
export function registerPlugin(descriptor: PluginDescriptor): void {
  if (REGISTRY.has(descriptor.name)) {
    throw new Error(`plugin ${descriptor.name} is registered twice`);
  }
  for (const [name, plugin] of register([descriptor])) {
    REGISTRY.set(name, plugin);
  }
}
