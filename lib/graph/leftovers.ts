/**
 * Clean-up after interrupted builds: the `.cache/tmp/` folders of runs that never finished,
 * with any distrobuilder still running for them (its runner died with kill -9).
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { safeRemove } from './fsutil.ts';
import type { ProjectPaths } from './paths.ts';

/** True when process `pid` is alive and its command line mentions `dir` (so it is that build). */
function processUses(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
}

/** Stops the process of a left-over build: SIGTERM, up to 10 s, then SIGKILL. */
async function stop(pid: number, dir: string): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* gone meanwhile, or not ours */
  }
  for (let i = 0; i < 50 && processUses(pid, dir); i++) await new Promise((r) => setTimeout(r, 200));
  if (processUses(pid, dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* ignore */
    }
  }
}

/**
 * Removes the folders of builds that did not finish. Call with the build lock held, so no live
 * build of ours owns them. Returns the folders removed.
 */
export async function removeLeftovers(p: ProjectPaths, warn: (m: string) => void): Promise<string[]> {
  if (!existsSync(p.tmp)) return [];
  const removed: string[] = [];
  for (const n of readdirSync(p.tmp)) {
    const dir = join(p.tmp, n);
    let pid: number | undefined;
    try {
      pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      /* never started */
    }
    if (pid && processUses(pid, dir)) await stop(pid, dir);
    const r = safeRemove(dir);
    if (r.removed) removed.push(dir);
    else warn(`${relative(p.root, dir)}: ${r.problem}`);
  }
  return removed;
}
