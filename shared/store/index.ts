import type { Config } from '../config.js';
import { openEmbeddedStore } from './embedded.js';
import { createEtcdStore } from './etcd.js';
import type { ConfigStore } from './types.js';

export type { ConfigStore } from './types.js';

/** etcd when endpoints are configured, otherwise the embedded store in the data directory. */
export async function openStore(config: Config): Promise<ConfigStore> {
  if (config.etcd.endpoints.length > 0) {
    return createEtcdStore({
      endpoints: [...config.etcd.endpoints],
      prefix: config.etcd.prefix,
      timeoutMs: config.etcd.timeoutMs,
    });
  }
  return openEmbeddedStore({ dataDir: config.dataDir, prefix: config.etcd.prefix });
}
