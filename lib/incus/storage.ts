/**
 * The storage pool new containers land on (the default profile's root disk) and what it means
 * for launch time: on `dir` Incus unpacks the whole image into every new container (~4000 files:
 * about 5 s per launch on our CI machine's disk), on btrfs, zfs, lvm and ceph it unpacks an image
 * once into an image volume and each launch is a copy-on-write clone (~0.15 s). Used by `doctor`
 * and `npm run bench -- boot`.
 * @module
 */
import { incus } from './client.ts';

/** The default profile's root disk pool and its storage driver. */
export interface PoolInfo {
  pool: string;
  driver: string;
}

/** Drivers whose launches are a clone of an image volume, not an unpack. */
const CLONING = new Set(['btrfs', 'zfs', 'lvm', 'lvmcluster', 'ceph']);

/**
 * The pool of the default profile's root disk, through the local Incus daemon; undefined when
 * Incus does not answer or the profile has no root disk.
 */
export async function defaultPool(): Promise<PoolInfo | undefined> {
  const p = await incus(['query', '/1.0/profiles/default'], { timeoutMs: 15_000 });
  if (p.code !== 0) return undefined;
  const devices = (JSON.parse(p.stdout) as { devices?: Record<string, { type?: string; path?: string; pool?: string }> }).devices ?? {};
  const root = Object.values(devices).find((d) => d.type === 'disk' && d.path === '/');
  if (!root?.pool) return undefined;
  const s = await incus(['query', `/1.0/storage-pools/${root.pool}`], { timeoutMs: 15_000 });
  if (s.code !== 0) return undefined;
  return { pool: root.pool, driver: (JSON.parse(s.stdout) as { driver?: string }).driver ?? 'unknown' };
}

/**
 * One line on what launches cost on this pool, and a warning (never a failure: `dir` works) when
 * every launch unpacks the image, with the way to a copy-on-write pool.
 */
export function poolAdvice(p: PoolInfo): { status: string; warning?: string } {
  const status = `the default profile's root disk is on pool "${p.pool}" (${p.driver})`;
  if (CLONING.has(p.driver)) return { status: `${status}: each launch clones the image volume (copy-on-write)` };
  if (p.driver !== 'dir') return { status };
  return {
    status: `${status}: each launch unpacks the whole image`,
    warning: 'a dir pool unpacks the image into every new container (about 5 s per launch on a small VM, vs ~0.15 s for a clone on btrfs/zfs/lvm),'
      + ' so no appliance boots in the 2 s it does on btrfs. An existing pool is never changed by setup; to move new containers to a loop-backed btrfs pool:'
      + ` \`incus storage create fast btrfs size=30GiB && incus profile device set default root pool=fast\` (docs/benchmarks.md, "Boot to healthy")`,
  };
}
