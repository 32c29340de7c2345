/**
 * The registry's signing key on disk: `.keys/registry.key` (PKCS#8 PEM, mode 0600, folder
 * 0700) and `.keys/registry.pub` (minisign public key, what users are given), in the project
 * folder but outside the served registry and git-ignored. `APPLIANCE_SIGNING_KEY` names a secret
 * key kept elsewhere (a CI secret, a hardware-backed mount); its `.pub` is expected beside it.
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../files.ts';
import { UserError } from '../diagnostics.ts';
import { formatPublicKey, generateKeys, keyIdHex, parseSecretKey, type SecretKey } from './minisign.ts';


/** A signing key that cannot be created or used as it is (exists, unreadable, readable by others). */
export class KeyError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

/** Folder of the key pair, relative to the project root. */
export const KEYS_DIR = '.keys';

/** Where a project's key pair lives. */
export interface KeyPaths {
  secret: string;
  pub: string;
}

/** The key files of a project (`APPLIANCE_SIGNING_KEY` overrides the secret key's path). */
export function keyPaths(root: string, env: NodeJS.ProcessEnv = process.env): KeyPaths {
  const secret = env.APPLIANCE_SIGNING_KEY || join(root, KEYS_DIR, 'registry.key');
  return { secret, pub: secret.replace(/\.key$/, '') + '.pub' };
}

/**
 * Creates a key pair. Refuses to replace an existing one unless `force` (clients that pinned
 * the old public key would reject every index signed by the new one).
 * @returns the paths and the key id (as minisign prints it)
 */
export async function createKeys(paths: KeyPaths, force = false): Promise<KeyPaths & { keyId: string; publicText: string }> {
  if (!force && (existsSync(paths.secret) || existsSync(paths.pub))) {
    throw new KeyError(`${existsSync(paths.secret) ? paths.secret : paths.pub} exists: a new key would invalidate every client's pinned public key (pass --force to replace it)`);
  }
  const dir = dirname(paths.secret);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const k = generateKeys();
  await writeFileAtomic(paths.secret, k.secretPem, 0o600);
  await writeFileAtomic(paths.pub, k.publicText, 0o644);
  return { ...paths, keyId: k.keyId, publicText: k.publicText };
}

/**
 * Loads the signing key, or undefined when there is none (the registry is then unsigned).
 * @throws KeyError naming the file when it exists but is unusable, or readable by others
 */
export function loadSigningKey(paths: KeyPaths): SecretKey | undefined {
  if (!existsSync(paths.secret)) return undefined;
  const mode = statSync(paths.secret).mode & 0o077;
  if (mode) throw new KeyError(`${paths.secret}: readable by other users (mode ${(statSync(paths.secret).mode & 0o777).toString(8)}): run chmod 600 on it`);
  try {
    return parseSecretKey(readFileSync(paths.secret, 'utf8'));
  } catch (e) {
    throw new KeyError(`${paths.secret}: ${(e as Error).message}`);
  }
}

/** The public key text of a loaded key (what `serve` prints and users pin), and its id. */
export function publicKeyText(key: SecretKey): { text: string; keyId: string } {
  return { text: formatPublicKey(key.pub), keyId: keyIdHex(key.pub.keyId) };
}
