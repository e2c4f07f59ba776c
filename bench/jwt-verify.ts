/**
 * Verifications per second of HS256, RS256 and ES256 tokens: jose (the
 * design's JWT library) against the verifier on Tollgate's request path
 * (data-plane/plugins/jwt-verify.ts), both for a token seen before (the
 * verifier's cache answers) and for tokens it has not seen (more distinct
 * tokens, cycled, than the cache holds). Run on one core:
 *
 *   taskset -c 0 node --import tsx bench/jwt-verify.ts
 */
import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { jwtVerify, SignJWT } from 'jose';

import { checkClaims, decodeJwt, verifySignature } from '../data-plane/plugins/jwt-verify.js';
import type { JwtCredential } from '../data-plane/plugins/jwt-verify.js';

const DURATION_MS = Number(process.env.BENCH_MS ?? 1500);

async function measure(name: string, fn: () => unknown): Promise<[string, number]> {
  for (let i = 0; i < 2000; i++) {
    await fn();
  }
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 200; i++) {
      await fn();
    }
    n += 200;
  }
  return [name, Math.round((n * 1000) / (performance.now() - start))];
}

/** More tokens than the verifier caches, so cycling through them always misses. */
const DISTINCT = 10_500;

function tollgate(tokens: string[], credential: JwtCredential): () => boolean {
  let i = 0;
  return () => {
    const token = tokens[i++ % tokens.length] ?? '';
    const jwt = decodeJwt(token);
    if (!jwt || !verifySignature(jwt, credential)) {
      throw new Error('verification failed');
    }
    return checkClaims(jwt.payload, Math.floor(Date.now() / 1000), 0) === undefined;
  };
}

async function sign(alg: string, key: KeyObject | Uint8Array, count: number): Promise<string[]> {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const claims = { key: 'user@example.com', exp, jti: String(i) };
    out.push(await new SignJWT(claims).setProtectedHeader({ alg }).sign(key));
  }
  return out;
}

async function main(): Promise<void> {
  const secret = 'a-secret-of-some-length-0123456789';
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = (k: KeyObject) => k.export({ type: 'spki', format: 'pem' }).toString();
  const hsTokens = await sign('HS256', Buffer.from(secret), DISTINCT);
  const rsTokens = await sign('RS256', rsa.privateKey, DISTINCT);
  const esTokens = await sign('ES256', ec.privateKey, DISTINCT);
  const [hs = '', rs = '', es = ''] = [hsTokens[0], rsTokens[0], esTokens[0]];
  const hsCred = { algorithm: 'HS256', secret };
  const rsCred = { algorithm: 'RS256', public_key: pem(rsa.publicKey) };
  const esCred = { algorithm: 'ES256', public_key: pem(ec.publicKey) };

  const secretBytes = new TextEncoder().encode(secret);
  const secretKey = createSecretKey(Buffer.from(secret));
  const results = [
    await measure('HS256 jose, Uint8Array secret', () => jwtVerify(hs, secretBytes)),
    await measure('HS256 jose, KeyObject secret', () => jwtVerify(hs, secretKey)),
    await measure('HS256 tollgate, new tokens', tollgate(hsTokens, hsCred)),
    await measure('HS256 tollgate, token seen before', tollgate([hs], hsCred)),
    await measure('RS256 jose, KeyObject', () => jwtVerify(rs, rsa.publicKey)),
    await measure('RS256 tollgate, new tokens', tollgate(rsTokens, rsCred)),
    await measure('RS256 tollgate, token seen before', tollgate([rs], rsCred)),
    await measure('ES256 jose, KeyObject', () => jwtVerify(es, ec.publicKey)),
    await measure('ES256 tollgate, new tokens', tollgate(esTokens, esCred)),
    await measure('ES256 tollgate, token seen before', tollgate([es], esCred)),
  ];
  console.log(`node ${process.version}, ${DURATION_MS} ms each`);
  for (const [name, rate] of results) {
    console.log(`${name.padEnd(34)} ${rate.toLocaleString('en-US').padStart(10)} /s`);
  }
}

await main();
