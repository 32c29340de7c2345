/**
 * The signed index: `streams/v1/images.json.minisig`, a minisign signature of images.json whose
 * trusted comment carries the claims a client checks besides the bytes: a serial that only grows
 * (a client that saw serial N refuses anything older), an expiry (an old index replayed after
 * it is refused even by a client that never saw a newer one) and the sha256 of index.json.
 * Every image file, SBOM and provenance statement is covered through its sha256 in images.json.
 * Incus and LXD never fetch the signature: they keep working exactly as before.
 *
 * Trusted comment (one line, key=value):
 * `incus-appliance-registry serial=1764400000 signed=2026-11-29T05:46:40Z expires=2026-12-29T05:46:40Z index.json-sha256=<hex>`
 * @module
 */
import { createHash } from 'node:crypto';
import { parseSignature, signDetached, verifyDetached, type PublicKey, type SecretKey } from './minisign.ts';

/** The signature file, relative to the registry. */
export const SIGNATURE_FILE = 'streams/v1/images.json.minisig';
/** How long a signature is valid by default: 30 days (re-sign with `sign`, or any build). */
export const DEFAULT_VALIDITY_MS = 30 * 24 * 3600 * 1000;

const TAG = 'incus-appliance-registry';

/** What the trusted comment claims. */
export interface IndexClaims {
  serial: number;
  signed: Date;
  expires: Date;
  /** sha256 of index.json. */
  indexSha256: string;
}

/** The trusted comment of `claims`. */
export function formatClaims(c: IndexClaims): string {
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `${TAG} serial=${c.serial} signed=${iso(c.signed)} expires=${iso(c.expires)} index.json-sha256=${c.indexSha256}`;
}

/** Parses a trusted comment; throws a message saying what is missing. */
export function parseClaims(text: string): IndexClaims {
  const words = text.trim().split(/\s+/);
  if (words[0] !== TAG) throw new Error(`the trusted comment is not ours ("${text.slice(0, 60)}")`);
  const kv = new Map(words.slice(1).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
  const serial = Number(kv.get('serial'));
  const signed = new Date(kv.get('signed') ?? '');
  const expires = new Date(kv.get('expires') ?? '');
  const indexSha256 = kv.get('index.json-sha256') ?? '';
  if (!Number.isSafeInteger(serial) || serial < 0) throw new Error('the trusted comment has no serial');
  if (Number.isNaN(signed.getTime()) || Number.isNaN(expires.getTime())) throw new Error('the trusted comment has no signing or expiry time');
  if (!/^[0-9a-f]{64}$/.test(indexSha256)) throw new Error('the trusted comment has no index.json sha256');
  return { serial, signed, expires, indexSha256 };
}

/** The serial of an existing signature file, or 0 (none, or unreadable). */
export function previousSerial(sigText: string | undefined): number {
  if (!sigText) return 0;
  try {
    return parseClaims(parseSignature(sigText).trustedComment).serial;
  } catch {
    return 0;
  }
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Signs an index. The serial is the signing time in seconds, or one more than the previous
 * serial when that is larger (two signatures in one second, a clock set back): it never repeats
 * and never goes down, even when the previous signature was lost.
 */
export function signIndex(imagesText: string, indexText: string, key: SecretKey, opts: { now: Date; validMs?: number; previous?: string }): { text: string; claims: IndexClaims } {
  const claims: IndexClaims = {
    serial: Math.max(previousSerial(opts.previous) + 1, Math.floor(opts.now.getTime() / 1000)),
    signed: opts.now,
    expires: new Date(opts.now.getTime() + (opts.validMs ?? DEFAULT_VALIDITY_MS)),
    indexSha256: sha256(indexText),
  };
  return { text: signDetached(Buffer.from(imagesText), key, formatClaims(claims)), claims };
}

/**
 * Checks an index against its signature: the signature (key id, images.json bytes, trusted
 * comment), the expiry, the sha256 of index.json, and the serial when a minimum is given.
 * @returns every problem (each a sentence naming the file), and the claims when the signature holds
 */
export function checkIndexSignature(files: { images: Buffer; index?: Buffer; sig?: string }, pub: PublicKey, opts: { now: Date; minSerial?: number }): { errors: string[]; claims?: IndexClaims } {
  if (files.sig === undefined) return { errors: [`${SIGNATURE_FILE}: missing: the index is not signed (run \`npx tsx build.ts keygen\`, then re-index with \`npx tsx build.ts sign\`)`] };
  const v = verifyDetached(files.images, files.sig, pub);
  if (!v.ok) return { errors: [`${SIGNATURE_FILE}: ${v.problem}`] };
  let claims: IndexClaims;
  try {
    claims = parseClaims(v.trustedComment);
  } catch (e) {
    return { errors: [`${SIGNATURE_FILE}: ${(e as Error).message}`] };
  }
  const errors: string[] = [];
  if (claims.expires.getTime() <= opts.now.getTime()) {
    errors.push(`${SIGNATURE_FILE}: the index expired on ${claims.expires.toISOString()} (serial ${claims.serial}, signed ${claims.signed.toISOString()}): an old index replayed, or a registry nobody re-signed (\`npx tsx build.ts sign\`)`);
  }
  if (files.index && sha256(files.index) !== claims.indexSha256) errors.push(`streams/v1/index.json: sha256 ${sha256(files.index)} is not the signed ${claims.indexSha256}`);
  if (opts.minSerial !== undefined && claims.serial < opts.minSerial) {
    errors.push(`${SIGNATURE_FILE}: serial ${claims.serial} is older than ${opts.minSerial}, the newest you have seen: an old index replayed`);
  }
  return { errors, claims };
}
