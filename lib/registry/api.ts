/**
 * The contract between the build stage and the registry stage. The build stage hands over
 * {@link BuiltImage}s; the registry stage (lib/registry/index.ts) publishes them into
 * registry/ and re-indexes. Data flows one way: build -> registry.
 * @module
 */
import type { Arch } from '../model.ts';

/** One successfully built image, as the build stage hands it to the registry. */
export interface BuiltImage {
  /** Appliance name (the alias users launch). */
  name: string;
  /** Appliance version (published as alias `<name>/<version>`). */
  version: string;
  /** Appliance description (one line). */
  description: string;
  /** Canonical architecture (Debian/Incus name). */
  arch: Arch;
  /** Base name and release, e.g. `debian`, `trixie`, and title "Debian 13 (trixie)". */
  base: { name: string; release: string; title: string };
  /** Path of the metadata tarball (`incus.tar.xz`). */
  metadataPath: string;
  /** Path of the root filesystem (`rootfs.squashfs`). */
  rootfsPath: string;
  /** When the build finished. */
  builtAt: Date;
}

/** Options of re-indexing. */
export interface IndexOptions {
  /** Newest versions kept per product. @default 3 */
  keep?: number;
  /** Files of dropped versions stay this many ms before deletion. @default 2 hours */
  graceMs?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
}
