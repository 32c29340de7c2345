/**
 * Writing a scaffold (`new`): the appliance folder, its golden files and its catalogue row.
 *
 * Everything is checked before anything is written (the folder, golden files and row must not
 * exist; the catalogue table must). The folder is written under a hidden temporary name and
 * renamed into place, then loaded through the gate like any appliance, its README sections are
 * generated and the README rules checked, the golden files written, and the catalogue row
 * added last. A failure on the way removes what was written: either all of it exists or none.
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UserError } from '../diagnostics.ts';
import { writeFileAtomicSync } from '../files.ts';
import { goldenDir, goldenFileNames, goldenFiles } from '../compile/golden.ts';
import { loadAppliances } from '../compile/load.ts';
import { refreshReadme } from '../../appliances/_shared/readme.ts';
import { catalogueRowPattern, readmeProblems } from '../../appliances/_shared/readme-rules.ts';
import { applianceTs, catalogueRow, configureSh, environmentConf, readmeSkeleton, type ScaffoldOptions } from './render.ts';

/** The catalogue of a project. */
export function cataloguePath(root: string): string {
  return join(root, 'docs', 'appliances.md');
}

/** A catalogue row of any appliance. */
const ANY_ROW = /^\| \[[a-z0-9-]+\]\(\.\.\/appliances\/[a-z0-9-]+\/README\.md\) \|/;

/**
 * `catalogue` with `row` added at the end of its appliance table: the table holding the rows
 * that link an appliance README, or else the first table whose header starts with
 * `| Appliance |` (docs/appliances.md has other tables naming appliances). Undefined when it has
 * neither.
 */
export function withCatalogueRow(catalogue: string, row: string): string | undefined {
  const lines = catalogue.split('\n');
  let at = lines.findIndex((l) => ANY_ROW.test(l));
  if (at < 0) at = lines.findIndex((l) => l.startsWith('| Appliance |'));
  if (at < 0) return undefined;
  while (at + 1 < lines.length && lines[at + 1].startsWith('|')) at++;
  lines.splice(at + 1, 0, row);
  return lines.join('\n');
}

/** Why the scaffold cannot be written into the project at `root`, each problem once. */
function preflight(root: string, name: string): string[] {
  const rel = (p: string) => relative(root, p);
  const problems: string[] = [];
  const dir = join(root, 'appliances', name);
  if (existsSync(dir)) problems.push(`${rel(dir)} already exists: choose another name (\`npx tsx build.ts new --remove ${name}\` removes a scaffold)`);
  const cat = cataloguePath(root);
  if (!existsSync(cat)) problems.push(`${rel(cat)}: missing (the catalogue gets a row per appliance)`);
  else {
    const text = readFileSync(cat, 'utf8');
    if (catalogueRowPattern(name).test(text)) problems.push(`${rel(cat)}: already has a row for ${name} (\`npx tsx build.ts new --remove ${name}\` removes it)`);
    else if (withCatalogueRow(text, '') === undefined) problems.push(`${rel(cat)}: no appliance table to add the row to (rows starting with "| [name](../appliances/name/README.md) |", or a header starting with "| Appliance |")`);
  }
  for (const f of goldenFileNames(name)) {
    const path = join(goldenDir(root), f);
    if (existsSync(path)) problems.push(`${rel(path)} already exists (left by a removed appliance? \`npx tsx build.ts new --remove ${name}\` deletes it)`);
  }
  return problems;
}

/** Writes the appliance folder under a temporary name, then renames it to `appliances/<name>`. */
function writeFolder(root: string, o: ScaffoldOptions): string {
  const dir = join(root, 'appliances', o.name);
  const tmp = join(root, 'appliances', `.new-${o.name}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(join(tmp, 'files'), { recursive: true });
    writeFileSync(join(tmp, 'appliance.ts'), applianceTs(o));
    writeFileSync(join(tmp, 'files', 'configure.sh'), configureSh(o));
    chmodSync(join(tmp, 'files', 'configure.sh'), 0o755);
    writeFileSync(join(tmp, 'files', 'environment.conf'), environmentConf(o));
    writeFileSync(join(tmp, 'README.md'), readmeSkeleton(o));
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/**
 * Scaffolds appliance `o.name` in the project at `root`.
 * @returns the paths written, relative to `root`
 * @throws UserError when something is in the way (nothing is written then)
 */
export async function createScaffold(root: string, o: ScaffoldOptions, opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<string[]> {
  const problems = preflight(root, o.name);
  if (problems.length) throw new UserError(`new ${o.name}: ${problems.join('; ')}`);
  opts.signal?.throwIfAborted();
  const written: string[] = [];
  try {
    const dir = writeFolder(root, o);
    written.push(dir);
    // The gate every verb runs: a scaffold that fails it is a bug of `new`, reported as such.
    const [app] = await loadAppliances(join(root, 'appliances'), [o.name], opts.env);
    const catalogue = withCatalogueRow(readFileSync(cataloguePath(root), 'utf8'), catalogueRow(o))!;
    const readme = refreshReadme(readFileSync(join(dir, 'README.md'), 'utf8'), app).text;
    const bad = readmeProblems(app, readme, catalogue);
    if (bad.length) throw new Error(`new: the scaffold breaks the README rules (a bug of new):\n${bad.join('\n')}`);
    writeFileAtomicSync(join(dir, 'README.md'), readme);
    opts.signal?.throwIfAborted();
    for (const g of goldenFiles(app)) {
      const path = join(goldenDir(root), g.file);
      writeFileAtomicSync(path, g.text);
      written.push(path);
    }
    opts.signal?.throwIfAborted();
    writeFileAtomicSync(cataloguePath(root), catalogue);
    written.push(cataloguePath(root));
  } catch (e) {
    for (const p of written) if (p !== cataloguePath(root)) rmSync(p, { recursive: true, force: true });
    // A file-system failure (a full disk, a file where a folder should be) is not a bug.
    if ((e as NodeJS.ErrnoException).code && !(e instanceof UserError)) throw new UserError(`new ${o.name}: could not write the scaffold (nothing was kept): ${(e as Error).message}`);
    throw e;
  }
  return written.map((p) => relative(root, p));
}
