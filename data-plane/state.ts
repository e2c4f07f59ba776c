/**
 * The configuration one data-plane node serves: every object read from the
 * store, validated again on read, with the router and balancers derived from
 * them. Changes apply one object at a time; nothing is rebuilt wholesale.
 *
 * A value that fails validation (written by another tool) is skipped with
 * one error naming its key, and the last good version of that object stays.
 */
import { parseObjectKey } from '../shared/keys.js';
import { openConsumer } from '../shared/consumer-secrets.js';
import type { Logger } from '../shared/logger.js';
import { getPlugin } from '../shared/plugins/index.js';
import type { ResourceName } from '../shared/schema/resources.js';
import { validateResource } from '../shared/schema/resources.js';
import type { Keyring } from '../shared/secrets.js';
import type { KeyValue } from '../shared/store/types.js';
import { AccountIndex } from './account-index.js';
import { createBalancer } from './balancer/index.js';
import type { Balancer } from './balancer/index.js';
import { Router } from './router/router.js';
import type {
  ConsumerValue,
  GlobalRuleValue,
  PluginConfigValue,
  PluginMap,
  RouteValue,
  ServiceValue,
  UpstreamValue,
} from './types.js';

export interface Stored<T> {
  id: string;
  value: T;
  modRevision: number;
}

/** An upstream ready to proxy to: its settings and a balancer built once per version. */
export interface UpstreamRuntime {
  /** Identifies this upstream version, for connection pools and logs. */
  key: string;
  value: UpstreamValue;
  balancer: Balancer;
}

/** What a matched route resolves to; cached until any object it depends on changes. */
export interface ResolvedRoute {
  route: Stored<RouteValue>;
  upstream?: UpstreamRuntime;
  /** Plugin name and configuration, highest priority first. */
  plugins: [string, Record<string, unknown>][];
  enableWebsocket: boolean;
}

type Obj = Record<string, unknown>;

export class ConfigState {
  readonly routes = new Map<string, Stored<RouteValue>>();
  readonly services = new Map<string, Stored<ServiceValue>>();
  readonly upstreams = new Map<string, Stored<UpstreamValue>>();
  readonly consumers = new Map<string, Stored<ConsumerValue>>();
  readonly pluginConfigs = new Map<string, Stored<PluginConfigValue>>();
  readonly globalRules = new Map<string, Stored<GlobalRuleValue>>();
  readonly router = new Router<string>();
  /** Consumers by auth plugin and credential key (for example jwt-auth's `key`). */
  readonly consumersByKey = new Map<string, Map<string, Stored<ConsumerValue>>>();
  /** Email reservations, failed-login counters and revoked tokens under `/_tollgate/`. */
  readonly accounts = new AccountIndex();

  readonly #logger: Logger;
  readonly #keyring: Keyring;
  readonly #balancers = new Map<string, UpstreamRuntime>();
  readonly #resolved = new Map<string, ResolvedRoute>();

  constructor(logger: Logger, keyring: Keyring) {
    this.#logger = logger;
    this.#keyring = keyring;
  }

  counts(): Record<ResourceName, number> {
    return {
      routes: this.routes.size,
      services: this.services.size,
      upstreams: this.upstreams.size,
      consumers: this.consumers.size,
      plugin_configs: this.pluginConfigs.size,
      global_rules: this.globalRules.size,
    };
  }

  /** Applies a put from the store; `/_tollgate/` account keys go to `accounts`, others are ignored. */
  applyPut(kv: KeyValue): void {
    const parsed = parseObjectKey(kv.key);
    if (!parsed) {
      this.accounts.applyPut(kv.key, kv.value);
      return;
    }
    const value = this.#readValue(kv, parsed.resource);
    if (value === undefined) {
      return;
    }
    const stored = { id: parsed.id, value, modRevision: kv.modRevision };
    if (
      parsed.resource === 'routes' &&
      !this.#placeRoute(kv.key, stored as unknown as Stored<RouteValue>)
    ) {
      return;
    }
    this.#set(parsed.resource, stored);
  }

  applyDelete(key: string): void {
    const parsed = parseObjectKey(key);
    if (!parsed) {
      this.accounts.applyDelete(key);
      return;
    }
    if (parsed.resource === 'routes') {
      this.router.remove(parsed.id);
    }
    this.#set(parsed.resource, undefined, parsed.id);
  }

  /** The route with its upstream and merged plugins, or undefined when it vanished. */
  resolve(routeId: string): ResolvedRoute | undefined {
    const cached = this.#resolved.get(routeId);
    if (cached) {
      return cached;
    }
    const route = this.routes.get(routeId);
    if (!route) {
      return undefined;
    }
    const resolved = this.#resolve(route);
    this.#resolved.set(routeId, resolved);
    return resolved;
  }

  /** Merges a consumer's plugins over the route's, as an auth plugin identifies it. */
  withConsumer(resolved: ResolvedRoute, consumer: Stored<ConsumerValue>): [string, Obj][] {
    const merged = Object.fromEntries(resolved.plugins);
    for (const [name, conf] of Object.entries(consumer.value.plugins ?? {})) {
      if (getPlugin(name)?.type !== 'auth') {
        merged[name] = conf as Obj;
      }
    }
    return sortPlugins(merged);
  }

  #readValue(kv: KeyValue, resource: ResourceName): Obj | undefined {
    let value: unknown;
    try {
      value = JSON.parse(kv.value);
    } catch {
      this.#logger.error('failed to apply config object: not JSON', { store_key: kv.key });
      return undefined;
    }
    if (resource === 'consumers' && value !== null && typeof value === 'object') {
      try {
        value = openConsumer(value as Obj, this.#keyring);
      } catch (err) {
        const reason = (err as Error).message;
        this.#logger.error('failed to apply config object: sealed', { store_key: kv.key, reason });
        return undefined;
      }
    }
    const err = validateResource(resource, value);
    if (err !== undefined) {
      this.#logger.error('failed to apply config object: invalid', {
        store_key: kv.key,
        reason: err,
      });
      return undefined;
    }
    return value as Obj;
  }

  #placeRoute(key: string, stored: Stored<RouteValue>): boolean {
    const r = stored.value;
    if (r.status === 0) {
      this.router.remove(stored.id);
      return true;
    }
    try {
      this.router.upsert({
        id: stored.id,
        uris: r.uris ?? (r.uri === undefined ? [] : [r.uri]),
        methods: r.methods,
        hosts: r.hosts ?? (r.host === undefined ? undefined : [r.host]),
        remoteAddrs: r.remote_addrs ?? (r.remote_addr === undefined ? undefined : [r.remote_addr]),
        vars: r.vars,
        priority: r.priority ?? 0,
        value: stored.id,
      });
      return true;
    } catch (err) {
      this.#logger.error('failed to apply config object: bad route', {
        store_key: key,
        reason: String(err),
      });
      return false;
    }
  }

  #set(resource: ResourceName, stored: Stored<Obj> | undefined, id = stored?.id ?? ''): void {
    const map = this.#mapOf(resource) as Map<string, Stored<Obj>>;
    if (resource === 'consumers') {
      this.#indexConsumer(map.get(id) as Stored<ConsumerValue> | undefined, false);
      this.#indexConsumer(stored as Stored<ConsumerValue> | undefined, true);
    }
    if (stored) {
      map.set(id, stored);
    } else {
      map.delete(id);
    }
    this.#invalidate(resource, id);
  }

  /**
   * Drops what a change makes stale: a route change affects that route only;
   * a change to a shared object (upstream, service, plugin config, global
   * rule) may affect any route, so every resolved route is recomputed lazily.
   */
  #invalidate(resource: ResourceName, id: string): void {
    if (resource === 'consumers') {
      return;
    }
    if (resource === 'routes') {
      this.#resolved.delete(id);
      return;
    }
    this.#resolved.clear();
    if (resource === 'upstreams' || resource === 'services') {
      this.#balancers.clear();
    }
  }

  #indexConsumer(consumer: Stored<ConsumerValue> | undefined, add: boolean): void {
    for (const [name, conf] of Object.entries(consumer?.value.plugins ?? {})) {
      const key = (conf as Obj).key;
      if (getPlugin(name)?.type !== 'auth' || typeof key !== 'string') {
        continue;
      }
      let byKey = this.consumersByKey.get(name);
      if (!byKey) {
        byKey = new Map();
        this.consumersByKey.set(name, byKey);
      }
      if (add) {
        byKey.set(key, consumer as Stored<ConsumerValue>);
      } else if (byKey.get(key)?.id === consumer?.id) {
        byKey.delete(key);
      }
    }
  }

  #mapOf(resource: ResourceName): Map<string, Stored<unknown>> {
    const maps: Record<ResourceName, Map<string, Stored<unknown>>> = {
      routes: this.routes,
      services: this.services,
      upstreams: this.upstreams,
      consumers: this.consumers,
      plugin_configs: this.pluginConfigs,
      global_rules: this.globalRules,
    };
    return maps[resource];
  }

  #resolve(route: Stored<RouteValue>): ResolvedRoute {
    const r = route.value;
    const service = r.service_id === undefined ? undefined : this.services.get(r.service_id);
    const pluginConfig =
      r.plugin_config_id === undefined ? undefined : this.pluginConfigs.get(r.plugin_config_id);

    const merged: PluginMap = {};
    for (const rule of [...this.globalRules.values()].sort(byId)) {
      Object.assign(merged, rule.value.plugins);
    }
    Object.assign(merged, service?.value.plugins, pluginConfig?.value.plugins, r.plugins);

    return {
      route,
      upstream: this.#upstreamFor(route, service),
      plugins: sortPlugins(merged),
      enableWebsocket: r.enable_websocket ?? service?.value.enable_websocket ?? false,
    };
  }

  #upstreamFor(
    route: Stored<RouteValue>,
    service: Stored<ServiceValue> | undefined,
  ): UpstreamRuntime | undefined {
    const r = route.value;
    if (r.upstream) {
      return this.#runtime(`route/${route.id}@${route.modRevision}`, r.upstream);
    }
    const upstreamId =
      r.upstream_id ?? (r.service_id === undefined ? undefined : service?.value.upstream_id);
    if (upstreamId !== undefined) {
      const up = this.upstreams.get(upstreamId);
      return up ? this.#runtime(`upstream/${up.id}@${up.modRevision}`, up.value) : undefined;
    }
    if (service?.value.upstream) {
      return this.#runtime(`service/${service.id}@${service.modRevision}`, service.value.upstream);
    }
    return undefined;
  }

  #runtime(key: string, value: UpstreamValue): UpstreamRuntime | undefined {
    const cached = this.#balancers.get(key);
    if (cached) {
      return cached;
    }
    try {
      const runtime = { key, value, balancer: createBalancer(value) };
      this.#balancers.set(key, runtime);
      return runtime;
    } catch (err) {
      this.#logger.error('failed to build upstream balancer', {
        upstream: key,
        reason: String(err),
      });
      return undefined;
    }
  }
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Highest priority first, as APISIX runs them; unknown names are dropped. */
function sortPlugins(plugins: PluginMap): [string, Obj][] {
  return Object.entries(plugins)
    .filter(([name]) => getPlugin(name) !== undefined)
    .sort(([a], [b]) => (getPlugin(b)?.priority ?? 0) - (getPlugin(a)?.priority ?? 0)) as [
    string,
    Obj,
  ][];
}
