/**
 * The build lock: one build (or clean) at a time per `.cache/`. proper-lockfile makes the lock
 * (an atomic mkdir of `.cache/lock`, refreshed every 10 s, stale after 30 s); inside it
 * `owner.json` names the holder's pid so a waiting build can say who it waits for, and
 * can take over at once when that process is dead (a `kill -9`), instead of waiting 30 s.
 * @module
 */
import { mkdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ProjectPaths } from './paths.ts';
import { writeFileAtomicSync } from '../files.ts';
import { UserError } from '../diagnostics.ts';

/** A held lock. */
export interface HeldLock {
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  host: string;
  since: string;
  command: string;
}

function readOwner(p: ProjectPaths): Owner | undefined {
  try {
    return JSON.parse(readFileSync(p.lockOwner, 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Thrown when the lock is held and the caller does not wait. */
export class LockedError extends UserError {
  override name = 'LockedError';
}

/**
 * Takes the lock of `p.cache`. When another process holds it: with `wait`, reports once through
 * `onWait` and polls until it is free; without, throws {@link LockedError}.
 */
export async function acquireLock(p: ProjectPaths, opts: { wait: boolean; onWait: (message: string) => void; command?: string; onCompromised?: (e: Error) => void; signal?: AbortSignal }): Promise<HeldLock> {
  const lockfile = (await import('proper-lockfile')).default;
  mkdirSync(p.cache, { recursive: true });
  let told = false;
  for (;;) {
    try {
      const release = await lockfile.lock(p.cache, {
        lockfilePath: p.lock,
        stale: 30_000,
        update: 10_000,
        retries: 0,
        realpath: false,
        onCompromised: opts.onCompromised ?? ((e) => process.stderr.write(`warning: the build lock was compromised: ${e.message}\n`)),
      });
      // Writing owner.json changes the directory's mtime, which proper-lockfile watches to notice
      // a stolen lock: put the mtime back.
      const before = statSync(p.lock);
      writeFileAtomicSync(p.lockOwner, JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString(), command: opts.command ?? 'build' } satisfies Owner) + '\n');
      utimesSync(p.lock, before.atime, before.mtime);
      return {
        async release() {
          rmSync(p.lockOwner, { force: true });
          await release().catch(() => undefined);
        },
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOTEMPTY: proper-lockfile found the lock stale (not refreshed for 30 s) but could not
      // rmdir it because of owner.json: the holder is frozen or gone.
      if (code === 'ENOTEMPTY') {
        rmSync(p.lock, { recursive: true, force: true });
        continue;
      }
      if (code !== 'ELOCKED') throw e;
      // owner.json lives inside the lock directory, so it always names the current holder.
      const owner = readOwner(p);
      if (owner && owner.host === hostname() && owner.pid !== process.pid && !alive(owner.pid)) {
        // The holder died without releasing (kill -9): the lock is ours to take.
        rmSync(p.lock, { recursive: true, force: true });
        continue;
      }
      const who = owner ? `pid ${owner.pid}${owner.host !== hostname() ? ` on ${owner.host}` : ''}, ${owner.command}` : 'pid unknown';
      if (!opts.wait) throw new LockedError(`another build is using .cache/ (${who}); not waiting (--no-wait)`);
      if (!told) {
        opts.onWait(`waiting for another build using .cache/ (${who})...`);
        told = true;
      }
      if (opts.signal?.aborted) throw new LockedError('interrupted while waiting for the .cache/ lock');
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}
