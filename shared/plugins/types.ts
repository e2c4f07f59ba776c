import type { JsonSchema } from '../schema/validate.js';

/**
 * What every plugin declares about itself, in one place. The control plane
 * uses the schemas to validate writes; the data plane re-validates what it
 * reads and runs the plugin's phases in priority order (highest first).
 */
export interface PluginDescriptor {
  name: string;
  /** Higher runs earlier, as in APISIX. */
  priority: number;
  version: string;
  /** `auth` plugins identify a consumer. */
  type?: 'auth';
  /** Schema of the plugin's configuration on a route, service, plugin config or global rule. */
  schema: JsonSchema;
  /** Schema of the plugin's configuration on a consumer; absent when consumers cannot carry it. */
  consumerSchema?: JsonSchema;
  /** Consumer fields that hold secrets: encrypted at rest, never logged. */
  encryptFields?: string[];
  /** Consumer fields the Admin API never shows, not even to admin keys (password hashes). */
  hiddenFields?: string[];
  /** Checks a schema cannot express; returns a message naming the problem. */
  checkConsumer?(conf: Record<string, unknown>): string | undefined;
}
