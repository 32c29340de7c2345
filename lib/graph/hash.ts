/**
 * Content hashing for the build graph: xxhash64 (xxhash-wasm) over bytes, and canonical JSON
 * (sorted keys) so that equal values always hash equally whatever the insertion order.
 *
 * The WASM module is instantiated once, on first use: the no-op path never hashes anything
 * (unchanged stats reuse recorded hashes), so it never pays for it.
 * @module
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';

/** A 64-bit xxhash as 16 lower-case hex digits. Branded so a path is never mistaken for one. */
export type Hash = string & { readonly __brand: 'xxh64' };

type XXHashAPI = Awaited<ReturnType<typeof import('xxhash-wasm')['default']>>;
let api: Promise<XXHashAPI> | undefined;

/** The xxhash-wasm API, instantiated on first call. */
export function xxhash(): Promise<XXHashAPI> {
  api ??= import('xxhash-wasm').then((m) => m.default());
  return api;
}

const hex = (n: bigint) => n.toString(16).padStart(16, '0') as Hash;

/** xxh64 of bytes or of a string's UTF-8 encoding. */
export async function hashBytes(data: Uint8Array | string): Promise<Hash> {
  const x = await xxhash();
  return hex(x.h64Raw(typeof data === 'string' ? Buffer.from(data, 'utf8') : data));
}

/** Files at least this big are streamed (WASM memory grows and never shrinks). */
const STREAM_THRESHOLD = 8 << 20;

/** xxh64 of a file's content; big files are streamed. */
export async function hashFile(path: string): Promise<Hash> {
  const x = await xxhash();
  if (statSync(path).size < STREAM_THRESHOLD) return hex(x.h64Raw(readFileSync(path)));
  const h = x.create64();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return hex(h.digest());
}

/**
 * Canonical JSON: object keys sorted at every level, `undefined` and functions dropped (like
 * JSON.stringify), no whitespace. Arrays keep their order (order is meaningful in a definition).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** A deep copy of `value` with object keys in sorted order (for canonical or pretty output). */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined || typeof v === 'function' ? null : sortKeys(v)));
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function') continue;
    out[k] = sortKeys(v);
  }
  return out;
}

/** xxh64 of the canonical JSON of `value`. */
export async function hashJson(value: unknown): Promise<Hash> {
  return hashBytes(canonicalJson(value));
}
