/** Command-line pieces shared by the registry verbs. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { opt } from '../options.ts';
import { defaultRegistryDir } from './index.ts';

/** `--registry DIR`. */
export const REGISTRY_OPTION = {
  registry: opt.path({ value: 'DIR', description: 'registry folder (default: <project>/registry)' }),
};

/** The registry folder a verb works on: `--registry`, else the project's. */
export function registryDirOf(ctx: { root: string; options: { registry?: string } }): string {
  return ctx.options.registry ?? defaultRegistryDir(ctx.root);
}

/**
 * Why `dir` is not a registry folder, or undefined. A registry folder is a directory holding
 * `streams/v1/` or `images/` (or nothing yet, when `emptyOk`): a verb handed a regular file, or
 * a folder of something else (`/var/www`, the project itself), must not serve or overwrite it.
 */
export function notRegistryProblem(dir: string, opts: { emptyOk?: boolean } = {}): string | undefined {
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) return undefined;
  if (!st.isDirectory()) return `${dir}: not a registry folder (it is not a folder)`;
  const names = readdirSync(dir).filter((n) => !n.startsWith('.'));
  if (names.length === 0 && opts.emptyOk) return undefined;
  if (existsSync(join(dir, 'streams', 'v1')) || existsSync(join(dir, 'images'))) return undefined;
  return `${dir}: not a registry folder (no streams/v1/ or images/ in it${names.length ? `; it holds ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}` : ''})`;
}
