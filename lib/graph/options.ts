/**
 * Build options and defaults, in a module of their own so that the fast (no-op) path loads none
 * of the key and runner machinery.
 * @module
 */
import { availableParallelism } from 'node:os';

/**
 * Version of this builder's own image logic: bump it when a change here changes the images
 * (distrobuilder flags, output post-processing), so every target rebuilds once.
 * v2: the layered graph (base, packages layer, image packed with pack-incus).
 */
export const BUILDER_VERSION = 2;

/** Build options that are part of the key. */
export interface BuildOptions {
  /** `split` (metadata tarball + squashfs) or `unified`. @default "split" */
  type: string;
  /** distrobuilder `--compression` (metadata tarball and squashfs). @default "xz" */
  compression: string;
}

/** Default build options. */
export const DEFAULT_OPTIONS: BuildOptions = { type: 'split', compression: 'xz' };

/**
 * Default number of concurrent distrobuilder runs: one per two CPUs, 1 to 4. A build is
 * CPU-bound in its longest stages (package installation; mksquashfs with xz, itself
 * multi-threaded) and network-bound while debootstrap downloads.
 */
export function defaultJobs(): number {
  return Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));
}
