/**
 * Default size of the distrobuilder pool. A build is CPU-bound in its longest stages (package
 * installation, mksquashfs with xz, which is itself multi-threaded) and network-bound while
 * debootstrap downloads: one build per two CPUs keeps the machine busy without thrashing.
 * @module
 */
import { availableParallelism } from 'node:os';

/** Default number of concurrent distrobuilder runs: one per two CPUs, 1 to 4. */
export function defaultJobs(): number {
  return Math.max(1, Math.min(4, Math.floor(availableParallelism() / 2)));
}
