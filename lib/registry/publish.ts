/**
 * `publish`: copies the registry to a public site (a folder, or an rsync destination
 * `[user@]host:/path`) in an order that never exposes a broken index:
 * 1. image files (new ones only; content-addressed names never change content),
 * 2. the web catalogue: appliances/<name>.html, then index.html (lib/catalogue),
 * 3. streams/v1/images.json, 4. streams/v1/index.json, then its signature images.json.minisig
 *    when the registry is signed (each replaced atomically; a folder destination loses a
 *    signature the registry no longer has),
 * 5. deletion of stale files (images, pages of dropped appliances) at the destination.
 * The index files and pages are snapshotted BEFORE the images are copied, so a re-index running
 * at the same time cannot make us publish an index naming a file we did not copy.
 * Dot files (.state.json, .lock, temporary files) are never published.
 * @module
 */
import { copyFile, mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { IMAGES_DIR, IMAGES_JSON, INDEX_JSON, referencedFiles, RegistryError, type ImagesJson } from './format.ts';
import { fsyncDir, tempPathFor, writeFileAtomic } from '../files.ts';
import { PAGES_DIR, readPages } from '../catalogue/write.ts';
import { SIGNATURE_FILE } from '../trust/index-signature.ts';

/** One step of a publish, in the order performed. */
export type PublishStep =
  | { op: 'copy'; file: string }
  | { op: 'write'; file: string }
  | { op: 'delete'; file: string }
  | { op: 'run'; command: string[] };

/** Options of {@link publish}. */
export interface PublishOptions {
  /** Use rsync even for a local destination (an rsync destination always uses it). */
  rsync?: boolean;
  /** Receives each step as it happens. */
  onStep?: (step: PublishStep) => void;
  /** Extra rsync arguments (e.g. `-e "ssh -p 2222"` as two items). */
  rsyncArgs?: string[];
}

/** True for `host:path` / `user@host:path` (not for a local path that merely contains a colon). */
export function isRsyncDestination(dest: string): boolean {
  return /^(?:[^@/:\s]+@)?[^/:\s]+:/.test(dest) && !dest.startsWith('/') && !dest.startsWith('.');
}

function joinDest(dest: string, rel: string): string {
  return dest.replace(/\/+$/, '') + '/' + rel;
}

/** Publishes `registryDir` to `dest`. Returns the steps performed, in order. */
export async function publish(registryDir: string, dest: string, opts: PublishOptions = {}): Promise<PublishStep[]> {
  const steps: PublishStep[] = [];
  const step = (s: PublishStep) => { steps.push(s); opts.onStep?.(s); };
  // Snapshot the index first (see the module comment).
  let imagesText: string;
  let indexText: string;
  try {
    imagesText = await readFile(join(registryDir, IMAGES_JSON), 'utf8');
    indexText = await readFile(join(registryDir, INDEX_JSON), 'utf8');
  } catch {
    throw new RegistryError(`${registryDir}: no index to publish (run a build first)`);
  }
  // The signature belongs to this images.json: snapshotted with it, published right after it.
  const sigText = await readFile(join(registryDir, SIGNATURE_FILE), 'utf8').catch(() => undefined);
  const pages = await readPages(registryDir);
  const referenced = referencedFiles(JSON.parse(imagesText) as ImagesJson);
  const srcFiles = new Set((await readdir(join(registryDir, IMAGES_DIR)).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).map((n) => `${IMAGES_DIR}/${n}`));
  for (const f of referenced) if (!srcFiles.has(f)) throw new RegistryError(`${registryDir}: ${f} is indexed but missing; run verify, nothing was published`);

  if (opts.rsync || isRsyncDestination(dest)) {
    const extra = opts.rsyncArgs ?? [];
    const rsync = async (args: string[]) => {
      const command = ['rsync', ...extra, ...args];
      step({ op: 'run', command });
      await execa(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    };
    const snap = await mkdtemp(join(tmpdir(), 'registry-publish-'));
    try {
      await writeFileAtomic(join(snap, 'images.json'), imagesText);
      await writeFileAtomic(join(snap, 'index.json'), indexText);
      if (sigText !== undefined) await writeFileAtomic(join(snap, 'images.json.minisig'), sigText);
      for (const p of pages) await writeFileAtomic(join(snap, 'site', p.file), p.text);
      // rsync writes each file to a hidden temporary name and renames it: atomic per file.
      await rsync(['-rt', '--mkpath', '--exclude=.*', join(registryDir, IMAGES_DIR) + '/', joinDest(dest, IMAGES_DIR) + '/']);
      // One run, in rsync's sorted order: appliances/*.html before index.html.
      if (pages.length) await rsync(['-rt', '--mkpath', join(snap, 'site') + '/', joinDest(dest, '')]);
      await rsync(['-t', '--mkpath', join(snap, 'images.json'), joinDest(dest, IMAGES_JSON)]);
      await rsync(['-t', '--mkpath', join(snap, 'index.json'), joinDest(dest, INDEX_JSON)]);
      if (sigText !== undefined) await rsync(['-t', '--mkpath', join(snap, 'images.json.minisig'), joinDest(dest, SIGNATURE_FILE)]);
      await rsync(['-rt', '--delete', '--exclude=.*', join(registryDir, IMAGES_DIR) + '/', joinDest(dest, IMAGES_DIR) + '/']);
      if (pages.length) await rsync(['-rt', '--delete', '--exclude=.*', join(snap, 'site', PAGES_DIR) + '/', joinDest(dest, PAGES_DIR) + '/']);
    } finally {
      await rm(snap, { recursive: true, force: true });
    }
    return steps;
  }

  // Local folder.
  const destImages = join(dest, IMAGES_DIR);
  await mkdir(destImages, { recursive: true });
  await mkdir(join(dest, 'streams', 'v1'), { recursive: true });
  const have = new Set((await readdir(destImages)).map((n) => `${IMAGES_DIR}/${n}`));
  for (const f of [...srcFiles].sort()) {
    const s = await stat(join(registryDir, f));
    if (have.has(f) && (await stat(join(dest, f))).size === s.size) continue;
    const tmp = tempPathFor(join(dest, f));
    await copyFile(join(registryDir, f), tmp);
    const fh = await open(tmp, 'r+');
    await fh.sync().finally(() => fh.close());
    await rename(tmp, join(dest, f));
    step({ op: 'copy', file: f });
  }
  await fsyncDir(destImages);
  for (const p of pages) {
    await writeFileAtomic(join(dest, p.file), p.text);
    step({ op: 'write', file: p.file });
  }
  await writeFileAtomic(join(dest, IMAGES_JSON), imagesText);
  step({ op: 'write', file: IMAGES_JSON });
  await writeFileAtomic(join(dest, INDEX_JSON), indexText);
  step({ op: 'write', file: INDEX_JSON });
  if (sigText !== undefined) {
    await writeFileAtomic(join(dest, SIGNATURE_FILE), sigText);
    step({ op: 'write', file: SIGNATURE_FILE });
  } else if (await unlink(join(dest, SIGNATURE_FILE)).then(() => true, () => false)) step({ op: 'delete', file: SIGNATURE_FILE });
  for (const f of [...have].sort()) {
    if (srcFiles.has(f)) continue;
    await unlink(join(dest, f)).catch(() => {});
    step({ op: 'delete', file: f });
  }
  const published = new Set(pages.map((p) => p.file));
  for (const n of (await readdir(join(dest, PAGES_DIR)).catch(() => [] as string[])).sort()) {
    const f = `${PAGES_DIR}/${n}`;
    if (!n.endsWith('.html') || published.has(f)) continue;
    await unlink(join(dest, f)).catch(() => {});
    step({ op: 'delete', file: f });
  }
  return steps;
}
