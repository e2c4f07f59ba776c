/**
 * Request-time plugin implementations by name. A plugin known to the
 * schemas but without a runtime here is validated and stored, and does
 * nothing at request time.
 */
import type { PluginRuntime } from './types.js';

export type { PhaseEnv, PluginRuntime } from './types.js';

const RUNTIMES = new Map<string, PluginRuntime>();

export function registerRuntime(runtime: PluginRuntime): void {
  RUNTIMES.set(runtime.name, runtime);
}

export function getRuntime(name: string): PluginRuntime | undefined {
  return RUNTIMES.get(name);
}
