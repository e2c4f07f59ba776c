import type { OutgoingHttpHeaders } from 'node:http';

import type { Logger } from '../../shared/logger.js';
import type { Keyring } from '../../shared/secrets.js';
import type { ConfigStore } from '../../shared/store/types.js';
import type { RequestContext } from '../context.js';
import type { ConfigState } from '../state.js';

/** What a plugin phase may use beyond the request itself. */
export interface PhaseEnv {
  state: ConfigState;
  logger: Logger;
  /**
   * For the few plugins that write account data themselves (sign-up, login
   * counters, logout). Read through `state`, which the watch keeps current;
   * write with compare-and-set so nodes never need to coordinate.
   */
  store: ConfigStore;
  /** Seals consumer secrets written by the data plane, as the control plane does. */
  keyring: Keyring;
}

type Phase = (
  ctx: RequestContext,
  conf: Record<string, unknown>,
  env: PhaseEnv,
) => void | Promise<void>;

/**
 * The request-time half of a plugin (its schemas live in shared/plugins).
 * Phases run in priority order, highest first: every plugin's `rewrite`,
 * then every plugin's `access`, then the proxy, then `headerFilter` on the
 * upstream response and `log` at the end. A phase that answers the client
 * (`ctx.respond`) stops the ones after it.
 */
export interface PluginRuntime {
  name: string;
  rewrite?: Phase;
  access?: Phase;
  headerFilter?(
    ctx: RequestContext,
    conf: Record<string, unknown>,
    headers: OutgoingHttpHeaders,
  ): void;
  log?(ctx: RequestContext, conf: Record<string, unknown>): void;
}
