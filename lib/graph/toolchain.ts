/**
 * The toolchain part of the key: which distrobuilder runs and its version. Asking
 * `distrobuilder --version` costs a process start, so the answer is cached in
 * `.cache/records/toolchain.json` keyed by the executable's resolved path and stat (size,
 * mtime, inode): upgrading the package replaces the file and invalidates the cache.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { writeFileAtomicSync } from '../files.ts';
import type { ProjectPaths } from './paths.ts';

/** The distrobuilder executable and its version. */
export interface Toolchain {
  /** What was asked for: `$DISTROBUILDER` or `distrobuilder`. */
  exe: string;
  /** Absolute path, when found. */
  path?: string;
  /** Version, e.g. `3.2`; `not installed` when not found. */
  version: string;
}

/** Stands in for the version when distrobuilder is not found (so a dry run still works). */
export const NOT_INSTALLED = 'not installed';

/**
 * The distrobuilder executable: `$DISTROBUILDER` or `distrobuilder` on PATH (the one rule; it
 * lives here, a light module, so the no-op build path does not import execa).
 */
export function distrobuilderName(env: NodeJS.ProcessEnv): string {
  return env.DISTROBUILDER || 'distrobuilder';
}

/** Resolves a command name on PATH like a shell would; undefined when not found. */
export function which(name: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  const candidates = name.includes('/') ? [isAbsolute(name) ? name : resolve(cwd, name)] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

interface Cache {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  version: string;
}

/** Finds distrobuilder and its version (cached by the executable's stat). */
export function toolchain(p: ProjectPaths, env: NodeJS.ProcessEnv): Toolchain {
  const exe = distrobuilderName(env);
  const path = which(exe, env, p.root);
  if (!path) return { exe, version: NOT_INSTALLED };
  const st = statSync(path);
  const cacheFile = join(p.records, 'toolchain.json');
  try {
    const c = JSON.parse(readFileSync(cacheFile, 'utf8')) as Cache;
    if (c.path === path && c.size === st.size && c.mtimeMs === st.mtimeMs && c.ino === st.ino && c.version) return { exe, path, version: c.version };
  } catch {
    /* no cache yet */
  }
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 20_000, env });
  const version = r.status === 0 ? String(r.stdout).trim().split(/\s+/).pop() || 'unknown' : 'unknown';
  if (r.status === 0) {
    try {
      writeFileAtomicSync(cacheFile, JSON.stringify({ path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, version } satisfies Cache) + '\n');
    } catch {
      /* read-only checkout: ask again next time */
    }
  }
  return { exe, path, version };
}
