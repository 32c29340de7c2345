/**
 * File-system helpers of the build stage: removal that never follows a mount
 * point (an interrupted distrobuilder can leave /proc, /sys or /dev mounted inside its work dir;
 * a plain recursive delete would descend into the host's /dev).
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';


/** Mount points at or below `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const base = resolve(dir);
  // Field 5 is the mount point, with spaces and such octal-escaped.
  const points = text.split('\n').filter(Boolean).map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
  return points.filter((p) => p === base || p.startsWith(base + '/')).sort((a, b) => b.length - a.length);
}

/** Result of {@link safeRemove}. */
export interface RemoveResult {
  /** True when the path is gone. */
  removed: boolean;
  /** Why it could not be removed entirely. */
  problem?: string;
}

/**
 * Removes `path` recursively without ever crossing into a mounted file system. Mounts left
 * below it are unmounted (lazily) first when running as root; otherwise, or when that fails, the
 * mounted parts are left alone and reported.
 */
export function safeRemove(path: string): RemoveResult {
  if (!existsSync(path) && !isSymlink(path)) return { removed: true };
  let mounts = mountsUnder(path);
  if (mounts.length && process.getuid?.() === 0) {
    for (const m of mounts) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    mounts = mountsUnder(path);
  }
  if (mounts.length === 0) {
    try {
      rmSync(path, { recursive: true, force: true, maxRetries: 2 });
      return { removed: true };
    } catch (e) {
      // Files written by a privileged distrobuilder run are root's: try the privileged way.
      if (process.getuid?.() !== 0) {
        const r = spawnSync('sudo', ['-n', 'rm', '-rf', '--one-file-system', path], { stdio: 'ignore' });
        if (r.status === 0 && !existsSync(path)) return { removed: true };
      }
      return { removed: false, problem: (e as Error).message };
    }
  }
  removeAvoiding(path, new Set(mounts));
  return { removed: false, problem: `still mounted: ${mounts.join(', ')} (unmount them, then remove ${path})` };
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Deletes what it can below `path`, skipping the mount points and everything under them. */
function removeAvoiding(path: string, mounts: Set<string>): void {
  if (mounts.has(path)) return;
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) {
    unlinkSync(path);
    return;
  }
  for (const n of readdirSync(path)) removeAvoiding(join(path, n), mounts);
  try {
    rmdirSync(path);
  } catch {
    /* not empty: a mount point is below */
  }
}

/** Total size in bytes of the files below `path` (0 when absent). Does not follow symlinks. */
export function treeSize(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const n of readdirSync(path)) total += treeSize(join(path, n));
  return total;
}
