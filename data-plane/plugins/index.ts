/**
 * Request-time plugin implementations by name. A plugin known to the
 * schemas but without a runtime here is validated and stored, and does
 * nothing at request time.
 */
import { consumerSignupRuntime } from './consumer-signup.js';
import { jwtAuthRuntime } from './jwt-auth.js';
import { jwtLogoutRuntime } from './jwt-logout.js';
import { passwordLoginRuntime } from './password-login.js';
import { publicApiRuntime } from './public-api.js';
import type { PluginRuntime } from './types.js';

export type { PhaseEnv, PluginRuntime } from './types.js';

const RUNTIMES = new Map<string, PluginRuntime>(
  [
    jwtAuthRuntime,
    publicApiRuntime,
    consumerSignupRuntime,
    passwordLoginRuntime,
    jwtLogoutRuntime,
  ].map((r) => [r.name, r]),
);

/** Adds a runtime for a plugin registered with shared/plugins registerPlugin(). */
export function registerRuntime(runtime: PluginRuntime): void {
  RUNTIMES.set(runtime.name, runtime);
}

export function getRuntime(name: string): PluginRuntime | undefined {
  return RUNTIMES.get(name);
}
