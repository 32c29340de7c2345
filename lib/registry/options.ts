/** Command-line pieces shared by the registry verbs. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { OptionSpec, VerbContext } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { defaultRegistryDir } from './index.ts';

/** `--registry DIR`. */
export const REGISTRY_OPTION: Record<string, OptionSpec> = {
  registry: { type: 'string', value: 'DIR', description: 'registry folder (default: <project>/registry)' },
};

/** The registry folder a verb works on. */
export function registryDirOf(ctx: VerbContext): string {
  const o = ctx.options.registry;
  return typeof o === 'string' && o ? resolve(o) : defaultRegistryDir(ctx.root);
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

/** Parses a positive integer option, with a user-facing error. */
export function intOption(ctx: VerbContext, name: string, fallback: number, min = 1): number {
  const v = ctx.options[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new UserError(`--${name}: expected an integer >= ${min}, got "${String(v)}"`);
  return n;
}

/**
 * Runs registry work for a verb: file-system and format errors become user errors (a message
 * and exit 1), not an internal-error stack trace.
 */
export async function asUserError<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${what}: ${(e as Error).message}`);
  }
}

/** Human size: 1.5 MiB. */
export function humanSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return i === 0 ? `${n} B` : `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}
