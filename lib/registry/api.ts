/**
 * The contract between the build stage and the registry stage. The build stage hands over
 * {@link BuiltImage}s; the registry stage (lib/registry/index.ts) publishes them into
 * registry/ and re-indexes. Data flows one way: build -> registry.
 * @module
 */
import type { Arch } from '../compile/model.ts';
import type { CatalogueOptions } from '../catalogue/write.ts';
import type { SecretKey } from '../trust/minisign.ts';

/**
 * A document published beside an image, as an extra item of its version (clients ignore items
 * of other ftypes): the SBOM and the provenance statement (lib/trust/).
 */
export interface Attachment {
  /** Item key and ftype: `sbom.cdx.json` or `provenance.intoto.jsonl`. */
  ftype: AttachmentType;
  /** The file to publish (a JSON document, or JSON lines). */
  path: string;
}

/** The attachment types, with the extension of their content-addressed file. */
export const ATTACHMENT_EXTENSIONS = { 'sbom.cdx.json': 'cdx.json', 'provenance.intoto.jsonl': 'intoto.jsonl' } as const;

/** An attachment's ftype. */
export type AttachmentType = keyof typeof ATTACHMENT_EXTENSIONS;

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
  /** SBOM and provenance, published with the image (absent for images built before them). */
  attachments?: Attachment[];
}

/** Options of re-indexing. */
export interface IndexOptions {
  /** Newest versions kept per product. @default 3 */
  keep?: number;
  /** Files of dropped versions stay this many ms before deletion. @default 2 hours */
  graceMs?: number;
  /** Clock, injectable for tests. */
  now?: () => Date;
  /** Receives every {@link IndexEvent} as it happens. */
  onEvent?: (event: IndexEvent) => void;
  /**
   * Plan only: compute and report what would change, write and delete nothing.
   * @default false
   */
  dryRun?: boolean;
  /**
   * Files that leave the index in this run are deleted at once instead of waiting for the grace
   * period (`new --remove`: the images of a scaffold being deleted). Files dropped by earlier
   * runs keep their own wait.
   * @default false
   */
  purgeDropped?: boolean;
  /**
   * A lock older than this is taken over (its holder died); see proper-lockfile `stale`.
   * @default 10000
   */
  lockStaleMs?: number;
  /**
   * The web catalogue (index.html, appliances/<name>.html) written before the index files;
   * `false` writes none. See lib/catalogue/.
   * @default {}
   */
  catalogue?: CatalogueOptions | false;
  /**
   * Signs images.json after every re-index (`streams/v1/images.json.minisig`, lib/trust/); with
   * none, the registry is unsigned and a signature left from before is removed (it would no
   * longer match). `validMs`: how long the signature holds (default 30 days).
   */
  signing?: { key: SecretKey; validMs?: number };
}

/** Why a version or product left the index. */
export type DropReason = 'retention' | 'superseded' | 'target-gone';

/**
 * What re-indexing does, step by step, in order. Consumed by loggers (the CLI prints them) and
 * by tests (counting `hash` events proves only new files are hashed; a child process killed at
 * the n-th event proves crash safety).
 */
export type IndexEvent =
  /** A file was read through sha256 (`path` is the source file). */
  | { type: 'hash'; path: string; bytes: number }
  /** A new content-addressed file was stored (`file` is relative to the registry). */
  | { type: 'store'; file: string; bytes: number }
  /** A version was added to a product. */
  | { type: 'add'; product: string; version: string; fingerprint: string }
  /** The same image (same fingerprint) is already the newest version: nothing added. */
  | { type: 'unchanged'; product: string; version: string; fingerprint: string }
  /**
   * A version left the index (retention; or superseded: a new build with the same bytes took its
   * place), or a whole product did (target gone).
   */
  | { type: 'drop'; product: string; version?: string; reason: DropReason }
  /** An index file was written atomically (`file` relative to the registry). */
  | { type: 'write'; file: string }
  /** The index was signed (`file` is the signature). */
  | { type: 'sign'; file: string; serial: number; expires: Date }
  /** A file no longer referenced waits for its grace period (`until` = earliest deletion). */
  | { type: 'defer'; file: string; until: Date }
  /** A file was deleted after its grace period. */
  | { type: 'delete'; file: string };

/** What one re-index did (or, with `dryRun`, would do). */
export interface IndexResult {
  /** Versions added, as `{product, version, fingerprint}`. */
  added: { product: string; version: string; fingerprint: string }[];
  /** Versions (or whole products, `version` undefined) removed from the index. */
  dropped: { product: string; version?: string; reason: DropReason }[];
  /** Files (relative to the registry) deleted after their grace period. */
  deleted: string[];
  /** Files (relative to the registry) now waiting for their grace period, with the deletion time. */
  pending: { file: string; until: Date }[];
  /** Source files hashed. */
  hashed: string[];
}
