/**
 * The shapes of stored objects as the data plane reads them, after
 * validation (shared/schema/resources.ts) has checked and defaulted them.
 */

export type PluginMap = Record<string, Record<string, unknown>>;

export interface UpstreamValue {
  id?: string;
  nodes: unknown;
  type?: 'roundrobin' | 'chash' | 'least_conn';
  scheme?: 'http' | 'https';
  pass_host?: 'pass' | 'node' | 'rewrite';
  upstream_host?: string;
  hash_on?: 'vars' | 'header' | 'cookie' | 'consumer';
  key?: string;
  retries?: number;
  /** Seconds. */
  retry_timeout?: number;
  /** Seconds each. */
  timeout?: { connect: number; send: number; read: number };
  keepalive_pool?: { size?: number; idle_timeout?: number; requests?: number };
}

export interface RouteValue {
  id: string;
  uri?: string;
  uris?: string[];
  methods?: string[];
  host?: string;
  hosts?: string[];
  remote_addr?: string;
  remote_addrs?: string[];
  vars?: unknown[];
  priority?: number;
  status?: 0 | 1;
  plugins?: PluginMap;
  plugin_config_id?: string;
  upstream?: UpstreamValue;
  upstream_id?: string;
  service_id?: string;
  enable_websocket?: boolean;
  timeout?: { connect: number; send: number; read: number };
}

export interface ServiceValue {
  id: string;
  plugins?: PluginMap;
  upstream?: UpstreamValue;
  upstream_id?: string;
  enable_websocket?: boolean;
}

export interface ConsumerValue {
  username: string;
  plugins?: PluginMap;
}

export interface PluginConfigValue {
  id: string;
  plugins: PluginMap;
}

export interface GlobalRuleValue {
  id: string;
  plugins: PluginMap;
}
