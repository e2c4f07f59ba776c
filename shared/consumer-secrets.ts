/**
 * Seals and opens the secret fields of a consumer's plugin configurations
 * (each plugin names them in `encryptFields`) at the store boundary: the
 * control plane seals before writing, both planes open after reading.
 */
import { getPlugin } from './plugins/index.js';
import type { Keyring } from './secrets.js';

type Obj = Record<string, unknown>;

function mapSecrets(consumer: Obj, transform: (value: string) => string): Obj {
  const plugins = consumer.plugins;
  if (plugins === null || typeof plugins !== 'object') {
    return consumer;
  }
  const nextPlugins: Obj = {};
  for (const [name, conf] of Object.entries(plugins as Obj)) {
    const fields = getPlugin(name)?.encryptFields ?? [];
    if (fields.length === 0 || conf === null || typeof conf !== 'object') {
      nextPlugins[name] = conf;
      continue;
    }
    const next: Obj = { ...(conf as Obj) };
    for (const field of fields) {
      if (typeof next[field] === 'string') {
        next[field] = transform(next[field]);
      }
    }
    nextPlugins[name] = next;
  }
  return { ...consumer, plugins: nextPlugins };
}

export function sealConsumer(consumer: Obj, keyring: Keyring): Obj {
  return keyring.enabled ? mapSecrets(consumer, (v) => keyring.encrypt(v)) : consumer;
}

/** Throws SecretError when a sealed field cannot be opened with this keyring. */
export function openConsumer(consumer: Obj, keyring: Keyring): Obj {
  return mapSecrets(consumer, (v) => keyring.decrypt(v));
}

/** For readers who may see a consumer but not its secrets. */
export function maskConsumerSecrets(consumer: Obj): Obj {
  return mapSecrets(consumer, () => '[redacted]');
}

/**
 * For every Admin API answer: removes the fields a plugin declares hidden
 * (`hiddenFields`, such as password hashes), which even admins never see.
 */
export function hideConsumerFields(consumer: Obj): Obj {
  const plugins = consumer.plugins;
  if (plugins === null || typeof plugins !== 'object') {
    return consumer;
  }
  const nextPlugins: Obj = {};
  for (const [name, conf] of Object.entries(plugins as Obj)) {
    const hidden = getPlugin(name)?.hiddenFields ?? [];
    if (hidden.length === 0 || conf === null || typeof conf !== 'object') {
      nextPlugins[name] = conf;
      continue;
    }
    nextPlugins[name] = Object.fromEntries(
      Object.entries(conf as Obj).filter(([field]) => !hidden.includes(field)),
    );
  }
  return { ...consumer, plugins: nextPlugins };
}
