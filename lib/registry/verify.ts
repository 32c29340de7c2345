/**
 * `verify`: re-hashes every file the index references (sha256, size, and the combined hash that
 * is the image fingerprint) and checks the JSON types clients are strict about; with a public
 * key, first the signature of the index (lib/trust/index-signature.ts): key, bytes, expiry,
 * serial. Works on a folder or, through {@link RegistrySource}, on a registry's URL.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { IMAGES_JSON, INDEX_JSON, ROOT_ITEM, checkImagesJson, checkIndexJson, fingerprintOf, versionsNewestFirst, type ImagesJson } from './format.ts';
import { SIGNATURE_FILE, checkIndexSignature, type IndexClaims } from '../trust/index-signature.ts';
import type { PublicKey } from '../trust/minisign.ts';

/** Where verify reads a registry from: a folder, or a URL (lib/trust/remote.ts). */
export interface RegistrySource {
  /** The folder or URL, for messages. */
  where: string;
  /** A small file (index, signature), or undefined when it does not exist. */
  read(rel: string): Promise<Buffer | undefined>;
  /** Streams a referenced file through `hashes`; its size, or why it cannot be read. */
  stream(rel: string, hashes: Hash[]): Promise<{ size: number } | { problem: string }>;
}

/** Options of {@link verifyRegistry}. */
export interface VerifyOptions {
  /** Check the signature of the index with this key; a missing signature is then an error. */
  key?: PublicKey;
  /** Clock for the expiry check. */
  now?: Date;
  /** Refuse a signed serial below this (the newest the user has seen). */
  minSerial?: number;
  /** Check the index and its signature only, not the files (a URL: no image downloads). */
  indexOnly?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** One image of the index, for pinning: `incus launch <remote>:<fingerprint>`. */
export interface VerifiedImage {
  product: string;
  version: string;
  applianceVersion?: string;
  fingerprint: string;
}

/** Outcome of {@link verifyRegistry}. */
export interface VerifyReport {
  /** Problems that break clients or integrity: each mismatch or missing file. */
  errors: string[];
  /** Drift clients tolerate (e.g. index.json product list behind images.json). */
  warnings: string[];
  /** Versions and distinct files checked. */
  versions: number;
  files: number;
  bytes: number;
  /** The signed claims, when a key was given and the signature holds. */
  signature?: IndexClaims;
  /** Every image of the index, products sorted, newest version first. */
  images: VerifiedImage[];
}

async function hashInto(path: string, hashes: Hash[]): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    for (const h of hashes) h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return n;
}

function parseJson(buf: Buffer | undefined): { data?: unknown; error?: string } {
  if (buf === undefined) return { error: 'missing' };
  try {
    return { data: JSON.parse(buf.toString('utf8')) };
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
}

/** A registry folder as a {@link RegistrySource}: paths may not leave it (symlinks included). */
export async function folderSource(registryDir: string): Promise<RegistrySource> {
  const root = await realpath(registryDir).catch(() => registryDir);
  const checkPath = async (rel: string): Promise<string | undefined> => {
    if (typeof rel !== 'string' || rel.startsWith('/') || rel.split('/').includes('..')) return 'path leaves the registry';
    const abs = join(registryDir, rel);
    try {
      const st = await stat(abs);
      if (!st.isFile()) return 'not a regular file';
      const real = await realpath(abs);
      if (!real.startsWith(root + sep)) return 'resolves outside the registry';
    } catch {
      return 'missing';
    }
    return undefined;
  };
  return {
    where: registryDir,
    async read(rel) {
      try {
        return await readFile(join(registryDir, rel));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async stream(rel, hashes) {
      const problem = await checkPath(rel);
      if (problem) return { problem };
      return { size: await hashInto(join(registryDir, rel), hashes) };
    },
  };
}

/** Every image of a catalogue, products sorted, newest version first. */
function imagesOf(images: ImagesJson): VerifiedImage[] {
  return Object.keys(images.products).sort().flatMap((product) => {
    const p = images.products[product];
    return versionsNewestFirst(p).map((version) => ({ product, version, applianceVersion: p.versions[version].appliance_version, fingerprint: fingerprintOf(p.versions[version]) ?? '' }));
  });
}

/**
 * Verifies a registry (a folder, or any {@link RegistrySource}). Reads each referenced file once
 * for its own sha256; a version's metadata and root are streamed together for the combined hash.
 */
export async function verifyRegistry(registry: string | RegistrySource, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const src = typeof registry === 'string' ? await folderSource(registry) : registry;
  const report: VerifyReport = { errors: [], warnings: [], versions: 0, files: 0, bytes: 0, images: [] };
  const indexBuf = await src.read(INDEX_JSON);
  const imagesBuf = await src.read(IMAGES_JSON);
  const idx = parseJson(indexBuf);
  const img = parseJson(imagesBuf);
  if (opts.key && imagesBuf) {
    const sig = await src.read(SIGNATURE_FILE);
    const r = checkIndexSignature({ images: imagesBuf, index: indexBuf, sig: sig?.toString('utf8') }, opts.key, { now: opts.now ?? new Date(), minSerial: opts.minSerial });
    report.errors.push(...r.errors);
    report.signature = r.claims;
  }
  if (img.error) {
    report.errors.push(`${IMAGES_JSON}: ${img.error}`);
  }
  const shape = img.data === undefined ? [] : checkImagesJson(img.data);
  report.errors.push(...shape);
  const images = img.data as ImagesJson | undefined;
  if (idx.error) report.errors.push(`${INDEX_JSON}: ${idx.error}`);
  else {
    const r = checkIndexJson(idx.data, shape.length ? undefined : images);
    report.errors.push(...r.errors);
    report.warnings.push(...r.warnings);
  }
  if (!images || typeof images.products !== 'object' || !images.products) return report;
  if (!shape.length) report.images = imagesOf(images);
  if (opts.indexOnly) return report;

  const fileSha = new Map<string, { sha256: string; size: number } | 'missing' | 'bad'>();

  const jobs: { at: string; items: Record<string, { path: string; sha256: string; size: number; combined_squashfs_sha256?: string; ftype?: string }> }[] = [];
  for (const [pk, p] of Object.entries(images.products)) {
    if (!p || typeof p.versions !== 'object' || !p.versions) continue;
    for (const [vk, v] of Object.entries(p.versions)) if (v && typeof v.items === 'object' && v.items) jobs.push({ at: `${pk} ${vk}`, items: v.items as never });
  }
  let done = 0;
  for (const { at, items } of jobs) {
    report.versions++;
    const meta = items['incus.tar.xz'] ?? items['lxd.tar.xz'];
    const rootItem = items[ROOT_ITEM];
    const combined = meta?.combined_squashfs_sha256 && rootItem ? createHash('sha256') : undefined;
    // Stream meta then root once, feeding their own hash and the combined one.
    const order = [meta, rootItem].filter((x): x is NonNullable<typeof x> => !!x);
    let combinedOk = !!combined;
    for (const it of order) {
      const own = createHash('sha256');
      const r = await src.stream(it.path, combined ? [own, combined] : [own]);
      if ('problem' in r) {
        report.errors.push(`${at}: ${it.path}: ${r.problem}`);
        fileSha.set(it.path, r.problem === 'missing' ? 'missing' : 'bad');
        combinedOk = false;
        continue;
      }
      if (!fileSha.has(it.path)) { report.files++; report.bytes += r.size; }
      fileSha.set(it.path, { sha256: own.digest('hex'), size: r.size });
    }
    for (const [key, it] of Object.entries(items)) {
      let got = fileSha.get(it.path);
      if (got === undefined) {
        // An item beyond metadata + squashfs (SBOM, provenance, or not ours): on its own.
        const own = createHash('sha256');
        const r = await src.stream(it.path, [own]);
        if ('problem' in r) { report.errors.push(`${at}: ${it.path}: ${r.problem}`); fileSha.set(it.path, 'missing'); continue; }
        report.files++; report.bytes += r.size;
        got = { sha256: own.digest('hex'), size: r.size };
        fileSha.set(it.path, got);
      }
      if (got === 'missing' || got === 'bad') continue;
      if (got.size !== it.size) report.errors.push(`${at}: item ${key}: ${it.path}: size ${got.size}, index says ${it.size}`);
      if (got.sha256 !== it.sha256) report.errors.push(`${at}: item ${key}: ${it.path}: sha256 ${got.sha256}, index says ${it.sha256}`);
    }
    if (combined && combinedOk && meta?.combined_squashfs_sha256) {
      const c = combined.digest('hex');
      if (c !== meta.combined_squashfs_sha256) report.errors.push(`${at}: combined_squashfs_sha256 (fingerprint) ${meta.combined_squashfs_sha256} does not match sha256(metadata ++ rootfs) ${c}`);
    }
    opts.onProgress?.(++done, jobs.length);
  }
  return report;
}
