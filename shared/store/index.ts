import type { Config } from '../config.js';
import { openEmbeddedStore } from './embedded.js';
import { createEtcdStore } from './etcd.js';
import type { ConfigStore } from './types.js';

export type { ConfigStore } from './types.js';

/** etcd when endpoints are configured, otherwise the embedded store in the data directory. */
export async function openStore(config: Config): Promise<ConfigStore> {
  if (config.etcd.endpoints.length > 0) {
    const { endpoints, prefix, timeoutMs, username, password, tls } = config.etcd;
    return createEtcdStore({
      endpoints: [...endpoints],
      prefix,
      timeoutMs,
      username,
      password,
      tls: tls.caFile || tls.certFile ? { ...tls } : undefined,
    });
  }
  return openEmbeddedStore({ dataDir: config.dataDir, prefix: config.etcd.prefix });
}
