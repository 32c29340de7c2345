/**
 * `verify`: re-hashes every file the index references (sha256, size, and the combined hash that
 * is the image fingerprint) and checks the JSON types clients are strict about.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { IMAGES_JSON, INDEX_JSON, ROOT_ITEM, checkImagesJson, checkIndexJson, type ImagesJson } from './format.ts';

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
}

async function hashInto(path: string, hashes: Hash[]): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    for (const h of hashes) h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return n;
}

async function readJson(path: string): Promise<{ data?: unknown; error?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message };
  }
  try {
    return { data: JSON.parse(text) };
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
}

/**
 * Verifies a registry folder. Reads each referenced file once for its own sha256; a version's
 * metadata and root are streamed together for the combined hash.
 * @param onProgress called after each version
 */
export async function verifyRegistry(registryDir: string, onProgress?: (done: number, total: number) => void): Promise<VerifyReport> {
  const report: VerifyReport = { errors: [], warnings: [], versions: 0, files: 0, bytes: 0 };
  const idx = await readJson(join(registryDir, INDEX_JSON));
  const img = await readJson(join(registryDir, IMAGES_JSON));
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

  const root = await realpath(registryDir);
  const fileSha = new Map<string, { sha256: string; size: number } | 'missing' | 'bad'>();
  const checkPath = async (rel: string): Promise<string | undefined> => {
    if (typeof rel !== 'string' || rel.startsWith('/') || rel.split('/').includes('..')) return 'bad';
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
      const problem = await checkPath(it.path);
      if (problem) {
        report.errors.push(`${at}: ${it.path}: ${problem === 'bad' ? 'path leaves the registry' : problem}`);
        fileSha.set(it.path, problem === 'missing' ? 'missing' : 'bad');
        combinedOk = false;
        continue;
      }
      const own = createHash('sha256');
      const size = await hashInto(join(registryDir, it.path), combined ? [own, combined] : [own]);
      if (!fileSha.has(it.path)) { report.files++; report.bytes += size; }
      fileSha.set(it.path, { sha256: own.digest('hex'), size });
    }
    for (const [key, it] of Object.entries(items)) {
      let got = fileSha.get(it.path);
      if (got === undefined) {
        // An item beyond metadata + squashfs (not written by us): check it on its own.
        const problem = await checkPath(it.path);
        if (problem) { report.errors.push(`${at}: ${it.path}: ${problem}`); fileSha.set(it.path, 'missing'); continue; }
        const own = createHash('sha256');
        const size = await hashInto(join(registryDir, it.path), [own]);
        report.files++; report.bytes += size;
        got = { sha256: own.digest('hex'), size };
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
    onProgress?.(++done, jobs.length);
  }
  return report;
}
