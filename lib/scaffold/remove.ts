/**
 * Removing an appliance that `new` scaffolded (`new --remove <name>`), leaving no trace:
 * its build outputs in `.cache/` for every architecture (what `clean <name>:<arch>` removes,
 * under the build lock; shared base trees stay), its products in the registry (their files
 * deleted at once, not after the grace period), the Incus images `test` cached from them, its
 * golden files, its catalogue row, and its folder last.
 *
 * It refuses an appliance git tracks: committed work is removed with git, not by this.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../diagnostics.ts';
import { ARCHES } from '../arch.ts';
import { goldenDir, goldenFileNames } from '../compile/golden.ts';
import { safeRemove, treeSize } from '../graph/fsutil.ts';
import { formatBytes } from '../format.ts';
import { writeFileAtomicSync } from '../files.ts';
import { targetCachePaths } from '../graph/gc.ts';
import { acquireLock } from '../graph/lock.ts';
import { projectPaths } from '../graph/paths.ts';
import { catalogueRowPattern } from '../../appliances/_shared/readme-rules.ts';
import { cataloguePath } from './create.ts';

/** How removal reports and waits. */
export interface RemoveOptions {
  /** One line per thing removed (or kept, and why). */
  log: (line: string) => void;
  /** Wait for a build holding the `.cache/` lock (default), or fail at once. */
  wait?: boolean;
  signal?: AbortSignal;
}

/** Files git tracks among `paths` (relative to `root`); empty when `root` is not a git work tree. */
async function tracked(root: string, paths: string[]): Promise<string[]> {
  const r = await execa('git', ['ls-files', '--', ...paths], { cwd: root, reject: false });
  // No git, or not a repository (exit 128): nothing is tracked.
  return r.exitCode === 0 ? String(r.stdout).split('\n').filter(Boolean) : [];
}

/** The registry's products of appliance `name` and the fingerprints of their versions. */
async function registryProducts(registryDir: string, name: string): Promise<{ products: string[]; fingerprints: string[] }> {
  const { IMAGES_JSON, fingerprintOf, parseProductKey } = await import('../registry/format.ts');
  if (!existsSync(join(registryDir, IMAGES_JSON))) return { products: [], fingerprints: [] };
  const { readImages } = await import('../registry/index.ts');
  const images = await readImages(registryDir);
  const products = Object.keys(images.products).filter((k) => parseProductKey(k)?.name === name);
  const fingerprints = products.flatMap((k) => Object.values(images.products[k].versions).map(fingerprintOf)).filter((f): f is string => !!f);
  return { products, fingerprints };
}

/** Deletes the images Incus cached from these fingerprints (launches of `test`); skipped without Incus. */
async function removeCachedImages(fingerprints: string[], log: (line: string) => void): Promise<void> {
  if (!fingerprints.length) return;
  const { incus } = await import('../incus/client.ts');
  const list = await incus(['image', 'list', '--format', 'json'], { timeoutMs: 30_000 }).catch(() => undefined);
  if (!list || list.code !== 0) return void log('Incus did not answer: images it may have cached from the registry were not checked');
  const wanted = new Set(fingerprints);
  for (const img of JSON.parse(list.stdout) as Array<{ fingerprint: string }>) {
    if (!wanted.has(img.fingerprint)) continue;
    const r = await incus(['image', 'delete', img.fingerprint], { timeoutMs: 60_000 });
    log(r.code === 0 ? `removed the Incus image ${img.fingerprint.slice(0, 12)} (cached by a test launch)` : `could not remove the Incus image ${img.fingerprint.slice(0, 12)}: ${r.stderr.trim()}`);
  }
}

/** Removes the build outputs of every architecture of `name`, under the build lock. */
async function removeCache(root: string, name: string, o: RemoveOptions): Promise<void> {
  const p = projectPaths(root);
  const paths = () => ARCHES.flatMap((arch) => targetCachePaths(p, `${name}:${arch}`)).filter((f) => existsSync(f));
  if (!paths().length) return;
  const lock = await acquireLock(p, { wait: o.wait ?? true, onWait: o.log, command: `new --remove ${name}`, signal: o.signal });
  try {
    for (const f of paths()) {
      const size = treeSize(f);
      const r = safeRemove(f);
      if (!r.removed) throw new UserError(`could not remove ${relative(root, f)}: ${r.problem}`);
      o.log(`removed ${relative(root, f)} (${formatBytes(size)})`);
    }
  } finally {
    await lock.release();
  }
}

/**
 * Removes every trace of appliance `name` from the project at `root`.
 * @returns how many things were removed
 * @throws UserError when git tracks it, or nothing named so exists
 */
export async function removeScaffold(root: string, name: string, o: RemoveOptions): Promise<number> {
  let count = 0;
  const log = (line: string) => { count++; o.log(line); };
  const dir = join(root, 'appliances', name);
  const goldens = goldenFileNames(name).map((f) => join(goldenDir(root), f)).filter((f) => existsSync(f));
  const owned = await tracked(root, [relative(root, dir), ...goldens.map((g) => relative(root, g))]);
  if (owned.length) throw new UserError(`new --remove ${name}: git tracks ${owned.slice(0, 3).join(', ')}${owned.length > 3 ? ` and ${owned.length - 3} more` : ''}: remove a committed appliance with git rm (new --remove only undoes an uncommitted scaffold)`);

  await removeCache(root, name, { ...o, log });
  o.signal?.throwIfAborted();
  const registryDir = join(root, 'registry');
  const reg = await registryProducts(registryDir, name);
  if (reg.products.length) {
    const { dropTargets } = await import('../registry/index.ts');
    const r = await dropTargets(registryDir, (n) => n !== name, { purgeDropped: true });
    log(`removed ${reg.products.join(', ')} from the registry (${r.deleted.length} file(s) deleted)`);
  }
  await removeCachedImages(reg.fingerprints, log);
  for (const g of goldens) {
    safeRemove(g);
    log(`removed ${relative(root, g)}`);
  }
  const cat = cataloguePath(root);
  if (existsSync(cat)) {
    const text = readFileSync(cat, 'utf8');
    const re = new RegExp(`${catalogueRowPattern(name).source}.*\\n`, 'mg');
    if (re.test(text)) {
      writeFileAtomicSync(cat, text.replace(re, ''));
      log(`removed the row of ${name} from ${relative(root, cat)}`);
    }
  }
  if (existsSync(dir)) {
    const r = safeRemove(dir);
    if (!r.removed) throw new UserError(`could not remove ${relative(root, dir)}: ${r.problem}`);
    log(`removed ${relative(root, dir)}/`);
  }
  if (!count) throw new UserError(`new --remove ${name}: nothing to remove: no appliance folder, golden file, catalogue row, build output or registry image of ${name}`);
  return count;
}
