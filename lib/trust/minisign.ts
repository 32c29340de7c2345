/**
 * Ed25519 signatures in minisign's documented format (https://jedisct1.github.io/minisign/),
 * with Node's own crypto: `minisign -Vm FILE -p KEY.pub` verifies what we sign, and a
 * client needs nothing of ours to check a registry.
 *
 * - Public key file: `untrusted comment: ...` then base64(`Ed` || key id (8 bytes) || key (32)).
 * - Signature file: `untrusted comment: ...`, base64(`ED` || key id || ed25519(BLAKE2b-512(file))),
 *   `trusted comment: ...`, base64(ed25519(signature || trusted comment)). The trusted comment is
 *   signed too: it carries what must not be replayed (serial, expiry).
 * - The secret key stays a PKCS#8 PEM file (what openssl and Node read); minisign's own
 *   secret-key format needs BLAKE2b-256, which Node does not offer, and we never need minisign
 *   to sign. The key id is derived from the public key (first 8 bytes of its sha256), so the
 *   secret key file alone is enough to sign.
 * @module
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** A public key: its minisign key id (8 bytes) and the Ed25519 key. */
export interface PublicKey {
  keyId: Buffer;
  key: KeyObject;
  /** The 32 raw key bytes. */
  raw: Buffer;
}

/** A secret key and its public half. */
export interface SecretKey {
  key: KeyObject;
  pub: PublicKey;
}

/** A parsed signature file. */
export interface Signature {
  /** `ED` (BLAKE2b-512 prehashed, minisign's default) or `Ed` (legacy, the file itself). */
  alg: 'ED' | 'Ed';
  keyId: Buffer;
  sig: Buffer;
  untrustedComment: string;
  trustedComment: string;
  globalSig: Buffer;
}

const UNTRUSTED = 'untrusted comment: ';
const TRUSTED = 'trusted comment: ';

/** The key id as minisign prints it: the 8 bytes read as a little-endian integer, upper-case hex. */
export function keyIdHex(id: Buffer): string {
  return Buffer.from(id).reverse().toString('hex').toUpperCase();
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

function publicOf(key: KeyObject): PublicKey {
  const raw = rawPublic(key);
  return { raw, key, keyId: createHash('sha256').update(raw).digest().subarray(0, 8) };
}

/** A new key pair: the secret key as PKCS#8 PEM, the public key in minisign's format. */
export function generateKeys(): { secretPem: string; publicText: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pub = publicOf(publicKey);
  return { secretPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicText: formatPublicKey(pub), keyId: keyIdHex(pub.keyId) };
}

/** The minisign public key file of a key. */
export function formatPublicKey(pub: PublicKey): string {
  return `${UNTRUSTED}minisign public key ${keyIdHex(pub.keyId)}\n${Buffer.concat([Buffer.from('Ed'), pub.keyId, pub.raw]).toString('base64')}\n`;
}

/** Reads a secret key (PKCS#8 PEM, Ed25519); throws a message naming what is wrong. */
export function parseSecretKey(pem: string): SecretKey {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new Error(`not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType} key, expected ed25519`);
  return { key, pub: publicOf(createPublicKey(key)) };
}

/**
 * Reads a minisign public key: the file's text (comment line and base64 line) or the base64
 * line alone (what `minisign -P` takes). Throws a message naming what is wrong.
 */
export function parsePublicKey(text: string): PublicKey {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith(UNTRUSTED.trim()));
  if (lines.length !== 1) throw new Error('not a minisign public key (expected one base64 line after the comment)');
  const b = Buffer.from(lines[0], 'base64');
  if (b.length !== 42 || b.subarray(0, 2).toString() !== 'Ed') throw new Error('not a minisign Ed25519 public key (42 bytes starting with "Ed")');
  const raw = b.subarray(10);
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  return { keyId: b.subarray(2, 10), key, raw };
}

/**
 * Signs `data`; returns the signature file's text.
 * @param trustedComment one line, signed with the data (minisign prints it after verifying)
 */
export function signDetached(data: Buffer, secret: SecretKey, trustedComment: string, untrustedComment = 'signature from the incus appliance registry'): string {
  if (/[\r\n]/.test(trustedComment) || /[\r\n]/.test(untrustedComment)) throw new Error('a minisign comment is one line');
  const digest = createHash('blake2b512').update(data).digest();
  const sig = sign(null, digest, secret.key);
  const global = sign(null, Buffer.concat([sig, Buffer.from(trustedComment)]), secret.key);
  return `${UNTRUSTED}${untrustedComment}\n${Buffer.concat([Buffer.from('ED'), secret.pub.keyId, sig]).toString('base64')}\n${TRUSTED}${trustedComment}\n${global.toString('base64')}\n`;
}

/** Parses a signature file; throws a message naming the malformed line. */
export function parseSignature(text: string): Signature {
  const lines = text.split(/\r?\n/);
  if (!lines[0]?.startsWith(UNTRUSTED)) throw new Error('line 1: expected "untrusted comment: ..."');
  const b = Buffer.from(lines[1] ?? '', 'base64');
  const alg = b.subarray(0, 2).toString();
  if (b.length !== 74 || (alg !== 'ED' && alg !== 'Ed')) throw new Error('line 2: not a minisign Ed25519 signature');
  if (!lines[2]?.startsWith(TRUSTED)) throw new Error('line 3: expected "trusted comment: ..."');
  const globalSig = Buffer.from(lines[3] ?? '', 'base64');
  if (globalSig.length !== 64) throw new Error('line 4: not a 64-byte signature of the trusted comment');
  return { alg: alg as Signature['alg'], keyId: b.subarray(2, 10), sig: b.subarray(10), untrustedComment: lines[0].slice(UNTRUSTED.length), trustedComment: lines[2].slice(TRUSTED.length), globalSig };
}

/**
 * Verifies `data` against a signature file with `pub`, as `minisign -V` does: key id, the
 * signature of the data, then the signature of the trusted comment. Returns the trusted comment,
 * or why verification failed.
 */
export function verifyDetached(data: Buffer, sigText: string, pub: PublicKey): { ok: true; trustedComment: string } | { ok: false; problem: string } {
  let s: Signature;
  try {
    s = parseSignature(sigText);
  } catch (e) {
    return { ok: false, problem: `malformed signature file: ${(e as Error).message}` };
  }
  if (!s.keyId.equals(pub.keyId)) return { ok: false, problem: `signed with key ${keyIdHex(s.keyId)}, not with the given key ${keyIdHex(pub.keyId)}` };
  const signed = s.alg === 'ED' ? createHash('blake2b512').update(data).digest() : data;
  if (!verify(null, signed, pub.key, s.sig)) return { ok: false, problem: 'the signature does not match the file (changed after signing, or signed by another key)' };
  if (!verify(null, Buffer.concat([s.sig, Buffer.from(s.trustedComment)]), pub.key, s.globalSig)) return { ok: false, problem: 'the trusted comment was changed after signing' };
  return { ok: true, trustedComment: s.trustedComment };
}
