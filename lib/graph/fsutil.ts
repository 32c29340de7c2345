/**
 * File-system helpers of the build stage: atomic writes, and removal that never follows a mount
 * point (an interrupted distrobuilder can leave /proc, /sys or /dev mounted inside its work dir;
 * a plain recursive delete would descend into the host's /dev).
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';

/** Writes `data` to `path` atomically: a temporary file in the same folder, then rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

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

/** Human size: `35.4 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Human duration: `850 ms`, `12.3 s`, `1m22s`, `2h05m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  // Round once, then split: 119.6 s is 2m00s, never 1m60s.
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m}m${String(whole % 60).padStart(2, '0')}s`;
  const mins = Math.round(s / 60);
  return `${Math.floor(mins / 60)}h${String(mins % 60).padStart(2, '0')}m`;
}

/** Parses a duration such as `7d`, `12h`, `30m`, `2w`, `90s`, `1d12h`. Returns ms, or undefined. */
export function parseDuration(text: string): number | undefined {
  const unit: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)\s*([smhdw])/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text.trim().replace(/\s+/g, '')) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * unit[p[2]], 0);
}
