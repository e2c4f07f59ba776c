/**
 * Child process for the embedded store's crash test: writes values that can
 * be checked for completeness, forever, printing each revision once its write
 * has resolved. The test kills it with SIGKILL mid-loop.
 *
 * Usage: node --import tsx embedded-writer.ts <dataDir> <prefix>
 */

import { pathToFileURL } from 'node:url';

import { openEmbeddedStore } from '../../shared/store/embedded.js';

/** The value written at step `i`: its padding length is derived from `i`. */
export function writerValue(i: number): string {
  return JSON.stringify({ i, pad: 'x'.repeat(padLength(i)) });
}

export function padLength(i: number): number {
  return 100 + ((i * 7919) % 4_000);
}

async function main(dataDir: string, prefix: string): Promise<void> {
  const store = await openEmbeddedStore({ dataDir, prefix });

  for (let i = 0; ; i++) {
    const { revision } = await store.put(`/k/${i % 50}`, writerValue(i));
    process.stdout.write(`${revision}\n`);
  }
}

// Only when run as a script: the test imports this module for `writerValue`.
const [script, dataDir, prefix] = process.argv.slice(1);
if (script !== undefined && import.meta.url === pathToFileURL(script).href) {
  await main(dataDir ?? '', prefix ?? '');
}
