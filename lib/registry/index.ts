/**
 * The registry stage: publishes built images into `registry/` and re-indexes it as SimpleStreams.
 *
 * - Image files go to `images/<sha256>.<ext>`: content-addressed, so a path never names two
 *   different contents (clients cache indexes for up to an hour).
 * - Only NEW files are hashed (while they are copied in, one read each); files already in the
 *   registry are trusted by name. `verify` re-hashes everything when wanted.
 * - Write order: image files (temp + fsync + rename), then images.json, then index.json (each
 *   atomic), then the state file, then deletions. A process killed anywhere leaves a registry in
 *   which every indexed file exists.
 * - Files no longer referenced wait in `.state.json` ("pending": file -> time dropped) for the
 *   grace period (default 2 h) before deletion, across runs. Unreferenced files found on disk
 *   that the state does not know (a run killed after storing files) get the same grace.
 * - One re-index at a time: a lock (`registry/.lock`, proper-lockfile).
 * @module
 */
import { createHash } from 'node:crypto';
import { open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { ATTACHMENT_EXTENSIONS, type BuiltImage, type IndexEvent, type IndexOptions, type IndexResult } from './api.ts';
import {
  IMAGES_DIR, IMAGES_JSON, INDEX_JSON, KNOWN_ARCHES, ROOT_FTYPE, ROOT_ITEM, checkImagesJson, emptyImages,
  fingerprintOf, indexFor, nextVersionKey, parseProductKey, productFields, productKey, referencedFiles,
  versionsNewestFirst, type ImagesJson, type Item, type Version,
  RegistryError,
} from './format.ts';
import { sortKeys } from '../graph/hash.ts';
import { copyHashing, exists, fsyncDir, mkdirRegistry, removeTempFiles, writeFileAtomic } from '../files.ts';
import { writeCatalogue } from '../catalogue/write.ts';
import { SIGNATURE_FILE, signIndex } from '../trust/index-signature.ts';

/** Default number of versions kept per product. */
export const DEFAULT_KEEP = 3;
/** Default grace period of unreferenced files: two hours (clients cache indexes for one). */
export const DEFAULT_GRACE_MS = 2 * 60 * 60 * 1000;
/** The state file (pending deletions), relative to the registry. Never served nor published. */
export const STATE_FILE = '.state.json';
/** The lock, relative to the registry. */
export const LOCK_FILE = '.lock';

/** The registry folder of a project. */
export function defaultRegistryDir(root: string): string {
  return join(root, 'registry');
}

/** Persistent state: files waiting for deletion, with the time they were dropped (ISO). */
interface State {
  version: 1;
  pending: Record<string, string>;
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const SQUASHFS_MAGIC = Buffer.from('hsqs', 'latin1');
const JSON_MAGIC = Buffer.from('{');

/** Reads images.json; an absent file is an empty catalogue, a malformed one an error. */
export async function readImages(registryDir: string): Promise<ImagesJson> {
  let text: string;
  try {
    text = await readFile(join(registryDir, IMAGES_JSON), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyImages();
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new RegistryError(`${join(registryDir, IMAGES_JSON)}: not valid JSON (${(e as Error).message}); refusing to overwrite it`);
  }
  // Only a broken structure stops us (we would lose data rewriting it); `verify` reports the rest.
  const d = data as Partial<ImagesJson> | null;
  const ok = !!d && typeof d === 'object' && !!d.products && typeof d.products === 'object' && !Array.isArray(d.products)
    && Object.values(d.products).every((p) => !!p && typeof p === 'object' && !!p.versions && typeof p.versions === 'object');
  if (!ok) throw new RegistryError(`${join(registryDir, IMAGES_JSON)}: malformed (${checkImagesJson(data).slice(0, 3).join('; ')}); refusing to overwrite it`);
  return data as ImagesJson;
}

async function readState(registryDir: string): Promise<State> {
  try {
    const s = JSON.parse(await readFile(join(registryDir, STATE_FILE), 'utf8')) as State;
    if (s && typeof s.pending === 'object') return { version: 1, pending: { ...s.pending } };
  } catch {
    /* absent or damaged: orphan detection below re-creates what matters */
  }
  return { version: 1, pending: {} };
}

/** What a change function may do to the catalogue. */
interface ChangeContext {
  images: ImagesJson;
  result: IndexResult;
  emit: (e: IndexEvent) => void;
  now: Date;
}

/**
 * Runs one locked re-index: read, `change`, retention, index writes, grace bookkeeping,
 * deletions. With `dryRun` nothing is written or deleted (and no lock is taken).
 */
async function reindex(registryDir: string, opts: IndexOptions, change: (c: ChangeContext) => Promise<void>, fresh: BuiltImage[] = []): Promise<IndexResult> {
  const keep = opts.keep ?? DEFAULT_KEEP;
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`keep must be an integer >= 1, got ${keep}`);
  if (!(graceMs >= 0)) throw new Error(`graceMs must be >= 0, got ${graceMs}`);
  const now = opts.now?.() ?? new Date();
  const dry = !!opts.dryRun;
  const result: IndexResult = { added: [], dropped: [], deleted: [], pending: [], hashed: [] };
  const emit = (e: IndexEvent) => opts.onEvent?.(e);

  const imagesDir = join(registryDir, IMAGES_DIR);
  const streamsDir = join(registryDir, 'streams', 'v1');
  if (!dry) {
    await mkdirRegistry(imagesDir); // 0755 whatever the umask
    await mkdirRegistry(streamsDir);
  }
  const release = dry
    ? async () => {}
    : await lockfile.lock(registryDir, {
        lockfilePath: join(registryDir, LOCK_FILE),
        realpath: false,
        stale: Math.max(2000, opts.lockStaleMs ?? 10_000),
        retries: { retries: 1000, factor: 1.2, minTimeout: 100, maxTimeout: 1000 },
      });
  try {
    if (!dry) {
      await removeTempFiles(imagesDir);
      await removeTempFiles(streamsDir);
    }
    const images = await readImages(registryDir);
    const before = referencedFiles(images);
    const state = await readState(registryDir);

    await change({ images, result, emit, now });

    // Retention: the newest `keep` versions of every product.
    for (const [key, p] of Object.entries(images.products)) {
      for (const v of versionsNewestFirst(p).slice(keep)) {
        delete p.versions[v];
        result.dropped.push({ product: key, version: v, reason: 'retention' });
        emit({ type: 'drop', product: key, version: v, reason: 'retention' });
      }
    }

    const after = referencedFiles(images);
    if (!dry) {
      // The web pages first (they link only to stored files), then the index files: the
      // catalogue, then the index that points at it; then pages of dropped appliances go.
      const pages = opts.catalogue === false ? undefined : await writeCatalogue(registryDir, images, fresh, { ...opts.catalogue, onWrite: (file) => emit({ type: 'write', file }) });
      const imagesText = JSON.stringify(sortKeys(images), null, 1) + '\n';
      const indexText = JSON.stringify(indexFor(images), null, 1) + '\n';
      await writeFileAtomic(join(registryDir, IMAGES_JSON), imagesText);
      emit({ type: 'write', file: IMAGES_JSON });
      await writeFileAtomic(join(registryDir, INDEX_JSON), indexText);
      emit({ type: 'write', file: INDEX_JSON });
      await writeSignature(registryDir, imagesText, indexText, opts, now, emit);
      for (const file of (await pages?.removeStale()) ?? []) emit({ type: 'delete', file });
    }

    // Grace bookkeeping: what just left the index, and strays on disk, start their wait now.
    const onDisk = (await readdir(imagesDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).map((n) => `${IMAGES_DIR}/${n}`);
    for (const f of [...before, ...onDisk]) {
      if (!after.has(f) && !state.pending[f]) state.pending[f] = now.toISOString();
    }
    const deleted: string[] = [];
    const diskSet = new Set(onDisk);
    const purge = new Set(opts.purgeDropped ? [...before].filter((f) => !after.has(f)) : []);
    for (const [f, at] of Object.entries(state.pending)) {
      if (after.has(f)) { delete state.pending[f]; continue; } // referenced again
      if (!diskSet.has(f)) { delete state.pending[f]; continue; } // already gone
      const until = new Date(Date.parse(at) + graceMs);
      if (until.getTime() <= now.getTime() || purge.has(f)) deleted.push(f);
      else {
        result.pending.push({ file: f, until });
        emit({ type: 'defer', file: f, until });
      }
    }
    if (!dry) await writeFileAtomic(join(registryDir, STATE_FILE), JSON.stringify({ version: 1, pending: sortKeys(state.pending) }, null, 1) + '\n');
    for (const f of deleted.sort()) {
      if (!dry) {
        await unlink(join(registryDir, f)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
        delete state.pending[f];
      }
      result.deleted.push(f);
      emit({ type: 'delete', file: f });
    }
    if (!dry && deleted.length) await writeFileAtomic(join(registryDir, STATE_FILE), JSON.stringify({ version: 1, pending: sortKeys(state.pending) }, null, 1) + '\n');
    result.pending.sort((a, b) => a.file.localeCompare(b.file));
    return result;
  } finally {
    await release();
  }
}

/**
 * Signs the index just written (the signature comes last: it names bytes already in place), or
 * removes a signature that no longer matches when there is no key.
 */
async function writeSignature(registryDir: string, imagesText: string, indexText: string, opts: IndexOptions, now: Date, emit: (e: IndexEvent) => void): Promise<void> {
  const path = join(registryDir, SIGNATURE_FILE);
  const previous = await readFile(path, 'utf8').catch(() => undefined);
  if (!opts.signing) {
    if (previous === undefined) return;
    await unlink(path);
    emit({ type: 'delete', file: SIGNATURE_FILE });
    return;
  }
  const { text, claims } = signIndex(imagesText, indexText, opts.signing.key, { now, validMs: opts.signing.validMs, previous });
  await writeFileAtomic(path, text);
  emit({ type: 'sign', file: SIGNATURE_FILE, serial: claims.serial, expires: claims.expires });
}

function checkImage(img: BuiltImage): void {
  const what = `image ${img.name}:${img.arch}`;
  if (!NAME.test(img.name)) throw new Error(`${what}: name must be lower-case letters, digits and dashes`);
  if (!VERSION.test(img.version)) throw new Error(`${what}: version "${img.version}" must be letters, digits and . _ + ~ - (no commas or slashes)`);
  if (!KNOWN_ARCHES.has(img.arch)) throw new Error(`${what}: architecture "${img.arch}" is unknown to Incus`);
  if (!(img.builtAt instanceof Date) || Number.isNaN(img.builtAt.getTime())) throw new Error(`${what}: builtAt is not a valid date`);
}

async function sniff(path: string, magic: Buffer, kind: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(magic.length), 0, magic.length, 0);
    if (bytesRead < magic.length || !buffer.equals(magic)) throw new Error(`${path}: not a ${kind} file`);
  } finally {
    await fh.close();
  }
}

/** Stores one source file under its content address; returns the item fields. */
async function store(registryDir: string, src: string, ext: string, magic: Buffer, kind: string, also: ReturnType<typeof createHash>[], c: ChangeContext): Promise<{ path: string; sha256: string; size: number }> {
  const imagesDir = join(registryDir, IMAGES_DIR);
  const { tmp, sha256, size } = await copyHashing(src, imagesDir, also, (head) => {
    if (head.length < magic.length || !head.subarray(0, magic.length).equals(magic)) throw new Error(`${src}: not a ${kind} file`);
  });
  c.result.hashed.push(src);
  c.emit({ type: 'hash', path: src, bytes: size });
  const rel = `${IMAGES_DIR}/${sha256}.${ext}`;
  if (await exists(join(registryDir, rel))) await unlink(tmp);
  else {
    await rename(tmp, join(registryDir, rel));
    c.emit({ type: 'store', file: rel, bytes: size });
  }
  return { path: rel, sha256, size };
}

/**
 * Adds built images to the registry and re-indexes: copies each metadata tarball and squashfs
 * to its content address (hashing only these new files), adds a version to the product
 * `<name>:<arch>:default`, applies retention, writes images.json then index.json atomically,
 * and deletes files whose grace period is over. An image identical (same fingerprint) to the
 * product's newest version adds nothing.
 */
export async function addImages(registryDir: string, images: BuiltImage[], opts: IndexOptions = {}): Promise<IndexResult> {
  images.forEach(checkImage);
  // Refuse wrong files before storing anything (no stray half of an image).
  for (const img of images) {
    await sniff(img.metadataPath, XZ_MAGIC, 'xz metadata tarball');
    await sniff(img.rootfsPath, SQUASHFS_MAGIC, 'squashfs');
    for (const a of img.attachments ?? []) await sniff(a.path, JSON_MAGIC, `JSON ${a.ftype}`);
  }
  if (opts.dryRun) throw new Error('addImages: dryRun is not supported (it would have to copy to hash)');
  const ordered = [...images].sort((a, b) => a.builtAt.getTime() - b.builtAt.getTime());
  return reindex(registryDir, opts, async (c) => {
    for (const img of ordered) {
      const combined = createHash('sha256');
      const meta = await store(registryDir, img.metadataPath, 'incus.tar.xz', XZ_MAGIC, 'xz metadata tarball', [combined], c);
      const root = await store(registryDir, img.rootfsPath, 'squashfs', SQUASHFS_MAGIC, 'squashfs', [combined], c);
      const fingerprint = combined.digest('hex');
      const attached: Record<string, Item> = {};
      for (const a of img.attachments ?? []) {
        const f = await store(registryDir, a.path, ATTACHMENT_EXTENSIONS[a.ftype], JSON_MAGIC, `JSON ${a.ftype}`, [], c);
        attached[a.ftype] = { ftype: a.ftype, ...f };
      }
      const key = productKey(img.name, img.arch);
      const existing = c.images.products[key];
      const product = { ...productFields(img), versions: existing?.versions ?? {} };
      c.images.products[key] = product;
      const newest = versionsNewestFirst(product)[0];
      if (newest && fingerprintOf(product.versions[newest]) === fingerprint) {
        // The same image: its SBOM and provenance (new, or regenerated) join the version.
        Object.assign(product.versions[newest].items, attached);
        c.emit({ type: 'unchanged', product: key, version: newest, fingerprint });
        continue;
      }
      // The same bytes as an older version: move it to the top rather than list it twice.
      for (const [vk, v] of Object.entries(product.versions)) {
        if (fingerprintOf(v) === fingerprint) {
          delete product.versions[vk];
          c.result.dropped.push({ product: key, version: vk, reason: 'superseded' });
          c.emit({ type: 'drop', product: key, version: vk, reason: 'superseded' });
        }
      }
      const metaItem = (ftype: string): Item => ({ ftype, path: meta.path, sha256: meta.sha256, size: meta.size, combined_squashfs_sha256: fingerprint });
      const version: Version = {
        items: {
          'incus.tar.xz': metaItem('incus.tar.xz'),
          'lxd.tar.xz': metaItem('lxd.tar.xz'),
          [ROOT_ITEM]: { ftype: ROOT_FTYPE, path: root.path, sha256: root.sha256, size: root.size },
          ...attached,
        },
        appliance_version: img.version,
      };
      const vk = nextVersionKey(img.builtAt, Object.keys(product.versions));
      product.versions[vk] = version;
      c.result.added.push({ product: key, version: vk, fingerprint });
      c.emit({ type: 'add', product: key, version: vk, fingerprint });
    }
    // Stored files must be durable before an index names them.
    await fsyncDir(join(registryDir, IMAGES_DIR));
  }, images);
}

/**
 * Removes every product whose appliance or architecture no longer exists (`keepTarget` says
 * false), then re-indexes; their files follow the grace period. Products whose key we did not
 * write (not `<name>:<arch>:<variant>`) are kept.
 */
export async function dropTargets(registryDir: string, keepTarget: (name: string, arch: string) => boolean, opts: IndexOptions = {}): Promise<IndexResult> {
  return reindex(registryDir, opts, async (c) => {
    for (const key of Object.keys(c.images.products)) {
      const k = parseProductKey(key);
      if (!k || keepTarget(k.name, k.arch)) continue;
      delete c.images.products[key];
      c.result.dropped.push({ product: key, reason: 'target-gone' });
      c.emit({ type: 'drop', product: key, reason: 'target-gone' });
    }
  });
}

/**
 * Applies retention and the grace period now (the `prune` verb), optionally dropping targets
 * that no longer exist. With `dryRun`, reports without changing anything.
 */
export async function prune(registryDir: string, opts: IndexOptions & { keepTarget?: (name: string, arch: string) => boolean } = {}): Promise<IndexResult> {
  if (opts.keepTarget) return dropTargets(registryDir, opts.keepTarget, opts);
  return reindex(registryDir, opts, async () => {});
}

/**
 * Re-indexes without changing the catalogue (no retention beyond what is already there): the
 * `sign` verb, to renew the signature's serial and expiry between builds.
 */
export async function resign(registryDir: string, opts: IndexOptions = {}): Promise<IndexResult> {
  return reindex(registryDir, { ...opts, keep: Number.MAX_SAFE_INTEGER }, async () => {});
}
