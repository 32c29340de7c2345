/**
 * Which remote cache a run uses: `--cache URL` (with `--cache-ro` for read-only), else the
 * `APPLIANCE_CACHE` environment variable, else the `cache` field of the project's
 * `build.config.json`:
 *
 * ```json
 * { "cache": "http://cache.lan:8080/appliances/" }
 * { "cache": { "url": "http://cache.lan:8080/appliances/", "readOnly": true } }
 * ```
 *
 * A URL written `ro+http://...` is read-only wherever it is given (like `--cache-ro`).
 * `--cache none` turns a configured cache off for one run. `APPLIANCE_CACHE_TIMEOUT` (seconds,
 * default 15 for an answer, 30 for a stalled transfer) bounds every request.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../diagnostics.ts';
import { keyPaths, loadSigningKey } from '../trust/keys.ts';
import { parsePublicKey, type PublicKey } from '../trust/minisign.ts';
import type { CacheSettings } from './stage.ts';

/** The project config file (shared with other settings, e.g. builders). */
export const CONFIG_FILE = 'build.config.json';

/**
 * Checks a cache URL; throws a UserError naming `where`. `ro+http://...` is the read-only form
 * (for the places without a flag: the environment, a shared config).
 */
function parseUrl(text: string, where: string): CacheSettings {
  const ro = text.startsWith('ro+');
  return { url: checkUrl(ro ? text.slice(3) : text, where), ...(ro ? { readOnly: true } : {}) };
}

function checkUrl(url: string, where: string): string {
  const problem = urlProblem(url);
  if (problem) throw new UserError(`${where}: ${problem}`);
  return url;
}

/** Why `url` is not a cache URL, or undefined. */
function urlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `not a URL: "${url}" (expected http://host[:port]/path/)`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `the cache URL must be http:// or https://, got "${u.protocol}"`;
  return undefined;
}

/** Why a `--cache` value (`none`, a URL, `ro+URL`) is refused, or undefined: the option's check. */
export function cacheFlagProblem(v: string): string | undefined {
  return v === 'none' ? undefined : urlProblem(v.startsWith('ro+') ? v.slice(3) : v);
}

/** The `cache` field of build.config.json, or undefined when the file or field is absent. */
function fromConfigFile(root: string): CacheSettings | undefined {
  const file = join(root, CONFIG_FILE);
  if (!existsSync(file)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${CONFIG_FILE}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError(`${CONFIG_FILE}: expected a JSON object`);
  const c = (doc as Record<string, unknown>).cache;
  if (c === undefined || c === null) return undefined;
  if (typeof c === 'string') return parseUrl(c, `${CONFIG_FILE}: cache`);
  if (typeof c !== 'object' || Array.isArray(c)) throw new UserError(`${CONFIG_FILE}: cache: expected a URL or {"url": URL, "readOnly": true|false}`);
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'url' && k !== 'readOnly' && k !== 'publicKey') throw new UserError(`${CONFIG_FILE}: cache.${k}: unknown field (expected url, readOnly, publicKey)`);
  if (o.publicKey !== undefined && (typeof o.publicKey !== 'string' || !o.publicKey)) throw new UserError(`${CONFIG_FILE}: cache.publicKey: expected the path of a minisign public key file`);
  if (typeof o.url !== 'string') throw new UserError(`${CONFIG_FILE}: cache.url: expected a URL string`);
  if (o.readOnly !== undefined && typeof o.readOnly !== 'boolean') throw new UserError(`${CONFIG_FILE}: cache.readOnly: expected true or false`);
  const s = parseUrl(o.url, `${CONFIG_FILE}: cache.url`);
  const pub = o.publicKey ? { publicKey: readPublicKey(resolve(root, o.publicKey as string), `${CONFIG_FILE}: cache.publicKey`) } : {};
  return { ...s, readOnly: s.readOnly || o.readOnly === true, ...pub };
}

/** Reads a minisign public key file; throws naming `where` and the file. */
function readPublicKey(file: string, where: string): PublicKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${where}: ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return parsePublicKey(text);
  } catch (e) {
    throw new UserError(`${where}: ${file}: not a minisign public key (${(e as Error).message})`);
  }
}

/**
 * The cache settings of a run, or undefined for none.
 * @param flag `--cache` as given (`none` turns the cache off)
 * @param readOnly `--cache-ro`
 */
export function cacheSettings(root: string, flag: string | undefined, readOnly: boolean, env: NodeJS.ProcessEnv): CacheSettings | undefined {
  if (flag === 'none') return undefined;
  let s: CacheSettings | undefined;
  if (flag !== undefined) s = parseUrl(flag, '--cache');
  else if (env.APPLIANCE_CACHE) s = parseUrl(env.APPLIANCE_CACHE, 'APPLIANCE_CACHE');
  else s = fromConfigFile(root);
  if (!s) {
    if (readOnly) throw new UserError('--cache-ro: no cache configured (give --cache URL, APPLIANCE_CACHE, or "cache" in build.config.json)');
    return undefined;
  }
  const t = env.APPLIANCE_CACHE_TIMEOUT;
  if (t !== undefined && t !== '') {
    const sec = Number(t);
    if (!Number.isFinite(sec) || sec <= 0) throw new UserError(`APPLIANCE_CACHE_TIMEOUT: expected seconds (> 0), got "${t}"`);
    s = { ...s, timeouts: { headers: sec * 1000, idle: sec * 1000 } };
  }
  // The environment's key wins over the file's (CI pins it next to the URL).
  const pubEnv = env.APPLIANCE_CACHE_PUBKEY;
  if (pubEnv) s = { ...s, publicKey: readPublicKey(resolve(root, pubEnv), 'APPLIANCE_CACHE_PUBKEY') };
  // Manifests this run uploads are signed with the project's signing key, when it has one.
  if (!(readOnly || s.readOnly)) {
    const key = loadSigningKey(keyPaths(root, env));
    if (key) s = { ...s, signingKey: key };
  }
  return readOnly ? { ...s, readOnly: true } : s;
}
