/**
 * Image options, defaults and the image-logic version, in a module of their own so that the fast (no-op) path loads none
 * of the key and runner machinery.
 * @module
 */
import { availableParallelism } from 'node:os';

/**
 * Version of the graph's own image logic: bump it when a change here changes the images
 * (distrobuilder flags, output post-processing), so every target rebuilds once. Keys and records
 * store it as `builder` (its old name: renaming the field would change every key).
 * v2: the layered graph (base, packages layer, image packed with pack-incus).
 */
export const IMAGE_LOGIC_VERSION = 2;

/** Image options (`--type`, `--compression`): part of the key. */
export interface ImageOptions {
  /** `split` (metadata tarball + squashfs) or `unified`. @default "split" */
  type: string;
  /** distrobuilder `--compression` (metadata tarball and squashfs). @default "xz" */
  compression: string;
}

/** Default image options. */
export const DEFAULT_OPTIONS: ImageOptions = { type: 'split', compression: 'xz' };

/**
 * Default number of concurrent distrobuilder runs: one per two CPUs, 1 to 4. A build is
 * CPU-bound in its longest stages (package installation; mksquashfs with xz, itself
 * multi-threaded) and network-bound while debootstrap downloads.
 */
export function defaultJobs(): number {
  return Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));
}
