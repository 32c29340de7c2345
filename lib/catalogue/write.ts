/**
 * Writing the catalogue into the registry, called by the re-index (lib/registry/index.ts) with
 * the lock held, BEFORE images.json and index.json are replaced:
 *
 * 1. `.catalogue.json` (the records of the declarations; a dot file, never served),
 * 2. `appliances/<name>.html`, each atomically (temp + fsync + rename),
 * 3. `index.html`, which links to them,
 * and after the index files: {@link CatalogueWrite.removeStale} deletes the pages of
 * appliances the index no longer holds. So at every instant each link of `index.html` names
 * an existing page, and a page links only to image files already stored.
 * @module
 */
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuiltImage } from '../registry/api.ts';
import { fsyncDir, removeTempFiles, writeFileAtomic } from '../files.ts';
import { parseProductKey, type ImagesJson } from '../registry/format.ts';
import { appliancePage } from './appliance-page.ts';
import { appliancePath, indexPage } from './index-page.ts';
import { INFO_FILE, PROJECT_APPLIANCES_DIR, declaredInfo, infoOfImage, readInfoFile, type ApplianceInfo } from './info.ts';
import type { Site } from './layout.ts';
import { catalogueView } from './view.ts';

/** The front page, relative to the registry. */
export const INDEX_HTML = 'index.html';
/** The folder of the appliance pages, relative to the registry. */
export const PAGES_DIR = 'appliances';

/** Options of the catalogue (IndexOptions.catalogue). */
export interface CatalogueOptions {
  /** Where the declarations of freshly built images are read. @default the project's appliances/ */
  appliancesDir?: string;
  /** Site title. @default "Appliance registry" */
  title?: string;
  /** Remote name in the commands. @default "appliance" */
  remote?: string;
  /**
   * Registry URL in the commands as written; the pages replace it with the address they are
   * loaded from. @default "https://REGISTRY-HOST:8443"
   */
  url?: string;
  /** Stops between two files written. */
  signal?: AbortSignal;
}

/** What {@link writeCatalogue} did, and the step left for after the index files. */
export interface CatalogueWrite {
  /** Files written, relative to the registry, in order. */
  written: string[];
  /** Deletes the pages of appliances no longer in the index; returns them. */
  removeStale(): Promise<string[]>;
}

/** The site settings of a set of options. */
export function siteOf(o: CatalogueOptions = {}): Site {
  return { title: o.title ?? 'Appliance registry', remote: o.remote ?? 'appliance', url: o.url ?? 'https://REGISTRY-HOST:8443' };
}

/** The records for an index: fresh builds recorded anew, others kept, missing ones looked up. */
async function updateInfos(registryDir: string, images: ImagesJson, fresh: readonly BuiltImage[], dir: string): Promise<Record<string, ApplianceInfo>> {
  const names = new Map<string, string>(); // name -> newest release in the index
  for (const [key, p] of Object.entries(images.products)) {
    const k = parseProductKey(key);
    if (k) names.set(k.name, p.release);
  }
  const old = (await readInfoFile(registryDir)).appliances;
  const infos: Record<string, ApplianceInfo> = {};
  for (const img of fresh) if (names.has(img.name)) infos[img.name] = await infoOfImage(img, dir);
  for (const [name, release] of names) {
    if (infos[name]) continue;
    // A registry indexed before the catalogue existed has no record: the declaration, if it
    // still declares the indexed version, is the best description there is.
    infos[name] = old[name] ?? (await declaredInfo(dir, name, release));
    if (!infos[name]) delete infos[name];
  }
  return infos;
}

/** Writes `path` unless it already holds exactly `text` (no needless fsync, mtime or ETag change). */
async function writeIfChanged(path: string, text: string): Promise<boolean> {
  const now = await readFile(path, 'utf8').catch(() => undefined);
  if (now === text) return false;
  await writeFileAtomic(path, text);
  return true;
}

/**
 * Writes the catalogue of `images` into `registryDir` (see the module comment for the order).
 * @param fresh the images this re-index adds: their declarations are recorded anew
 * @param opts also `onWrite`, told of each file right after it is written
 */
export async function writeCatalogue(
  registryDir: string,
  images: ImagesJson,
  fresh: readonly BuiltImage[],
  opts: CatalogueOptions & { onWrite?: (file: string) => void } = {},
): Promise<CatalogueWrite> {
  const signal = opts.signal;
  const pagesDir = join(registryDir, PAGES_DIR);
  await removeTempFiles(registryDir);
  await removeTempFiles(pagesDir);
  const infos = await updateInfos(registryDir, images, fresh, opts.appliancesDir ?? PROJECT_APPLIANCES_DIR);
  const written: string[] = [];
  const put = async (rel: string, text: string) => {
    signal?.throwIfAborted();
    if (!(await writeIfChanged(join(registryDir, rel), text))) return;
    written.push(rel);
    opts.onWrite?.(rel);
  };
  await put(INFO_FILE, JSON.stringify({ version: 1, appliances: infos }, null, 1) + '\n');
  const site = siteOf(opts);
  const apps = catalogueView(images, infos);
  for (const a of apps) await put(appliancePath(a.name), appliancePage(a, site));
  await put(INDEX_HTML, indexPage(apps, site));
  const keep = new Set(apps.map((a) => `${a.name}.html`));
  return {
    written,
    async removeStale() {
      const names = await readdir(pagesDir).catch(() => [] as string[]);
      const stale = names.filter((n) => n.endsWith('.html') && !keep.has(n)).map((n) => `${PAGES_DIR}/${n}`);
      for (const f of stale) await unlink(join(registryDir, f)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
      if (stale.length) await fsyncDir(pagesDir);
      return stale;
    },
  };
}

/** One page of the catalogue, read into memory. */
export interface PageFile {
  /** Relative to the registry, e.g. `appliances/nginx.html`. */
  file: string;
  text: string;
}

/**
 * The catalogue's pages as they are now, appliance pages first and `index.html` last (the
 * order they must reach a copy in); empty for a registry without a catalogue. `publish` reads
 * them together with the index files, so what it copies is one consistent snapshot.
 */
export async function readPages(registryDir: string): Promise<PageFile[]> {
  const read = (file: string) => readFile(join(registryDir, file), 'utf8').then((text) => ({ file, text }), () => undefined);
  const names = (await readdir(join(registryDir, PAGES_DIR)).catch(() => [] as string[])).filter((n) => n.endsWith('.html') && !n.startsWith('.')).sort();
  const pages = await Promise.all([...names.map((n) => `${PAGES_DIR}/${n}`), INDEX_HTML].map(read));
  return pages.filter((p): p is PageFile => !!p);
}
