/**
 * The remote cache's layout and its key -> manifest records:
 *
 * ```
 * <cache URL>/blobs/sha256/<hex>            content-addressed files (a tree's rootfs.tar, an image's files)
 * <cache URL>/manifests/<key hash>.json     what the node with that key made: files with sha256 and size
 * ```
 *
 * A manifest is written last, after every blob it names, so a reader never sees an entry whose
 * blobs were not uploaded yet. Nothing in a manifest is trusted before {@link parseManifest}
 * checked its shape, its key and its file names, and nothing in a blob before its sha256 and
 * size matched the manifest.
 * @module
 */
import type { Hash } from '../graph/hash.ts';
import type { NodeKind, NodeRef } from '../graph/record.ts';
import type { Attestation } from '../trust/attest.ts';

/** Format tag of manifests; another tag is a miss (a cache written by another version). */
export const MANIFEST_FORMAT = 'incus-appliance-cache/1';

/** One file of a node's output. */
export interface ManifestFile {
  /** File name in the node's output folder (no path). */
  name: string;
  sha256: string;
  size: number;
}

/** What a tree node's manifest carries of its record (the rest is the reader's own plan). */
export interface TreeInfo {
  builtAt: string;
  refreshedAt: string;
  durationMs: number;
  distrobuilder: string;
  parent?: NodeRef;
}

/** What an image's manifest carries of its record. */
export interface ImageInfo {
  builtAt: string;
  durationMs: number;
  distrobuilder: string;
  chain: NodeRef[];
  attestation?: Attestation;
}

/** The manifest of one node. */
export type Manifest = {
  format: typeof MANIFEST_FORMAT;
  /** `base/debian-trixie:amd64`, `nginx:amd64/packages`, `nginx:amd64`. */
  node: string;
  hash: Hash;
  files: ManifestFile[];
  uploadedAt: string;
} & ({ kind: NodeKind; tree: TreeInfo } | { kind: 'image'; image: ImageInfo });

/** Path of the manifest of a key. */
export function manifestPath(hash: Hash): string {
  return `manifests/${hash}.json`;
}

/** Path of a blob. */
export function blobPath(sha256: string): string {
  return `blobs/sha256/${sha256}`;
}

/** A manifest that cannot be trusted. */
export class ManifestError extends Error {
  override name = 'ManifestError';
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isRef = (v: unknown): v is NodeRef => isObj(v) && typeof v.node === 'string' && typeof v.hash === 'string' && typeof v.refreshedAt === 'string';
const isTime = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** Why the file list is unusable, or undefined. */
function filesProblem(files: unknown): string | undefined {
  if (!Array.isArray(files) || files.length === 0) return 'no files';
  const seen = new Set<string>();
  for (const f of files) {
    if (!isObj(f)) return 'a file entry is not an object';
    // A bare file name: a manifest never writes outside the node's own folder.
    if (typeof f.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(f.name)) return `file name ${JSON.stringify(f.name)} is not a plain file name`;
    if (seen.has(f.name)) return `file ${f.name} listed twice`;
    seen.add(f.name);
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) return `file ${f.name}: sha256 is not 64 hex digits`;
    if (typeof f.size !== 'number' || !Number.isSafeInteger(f.size) || f.size < 0) return `file ${f.name}: size is not a byte count`;
  }
  return undefined;
}

/**
 * Parses and checks a manifest fetched for `expect`: its format, node, key hash and kind must
 * be the ones asked for, every file a plain name with a sha256 and a size, and its record
 * fields present. Throws a {@link ManifestError} naming the problem.
 */
export function parseManifest(text: Buffer, expect: { node: string; hash: Hash; kind: NodeKind | 'image' }): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw new ManifestError(`not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isObj(m)) throw new ManifestError('not a JSON object');
  if (m.format !== MANIFEST_FORMAT) throw new ManifestError(`format ${JSON.stringify(m.format)} is not ${MANIFEST_FORMAT}`);
  if (m.hash !== expect.hash) throw new ManifestError(`it is the manifest of key ${JSON.stringify(m.hash)}, not ${expect.hash}`);
  if (m.node !== expect.node) throw new ManifestError(`it is the manifest of ${JSON.stringify(m.node)}, not ${expect.node}`);
  if (m.kind !== expect.kind) throw new ManifestError(`kind ${JSON.stringify(m.kind)} is not ${expect.kind}`);
  const fp = filesProblem(m.files);
  if (fp) throw new ManifestError(fp);
  const names = (m.files as ManifestFile[]).map((f) => f.name);
  if (expect.kind === 'image') {
    const i = m.image;
    if (!isObj(i) || !isTime(i.builtAt) || typeof i.durationMs !== 'number' || typeof i.distrobuilder !== 'string' || !Array.isArray(i.chain) || !i.chain.every(isRef)) throw new ManifestError('field image malformed');
    if (!names.includes('build.json') || !names.some((n) => /^incus\.tar(\.[a-z0-9]+)?$/.test(n))) throw new ManifestError('an image needs build.json and an incus.tar.* metadata file');
    const a = i.attestation;
    if (a !== undefined && (!isObj(a) || typeof a.fingerprint !== 'string' || !names.includes(String(a.sbom)) || !names.includes(String(a.provenance)))) throw new ManifestError('field image.attestation malformed or names a file not listed');
  } else {
    const t = m.tree;
    if (!isObj(t) || !isTime(t.builtAt) || !isTime(t.refreshedAt) || typeof t.durationMs !== 'number' || typeof t.distrobuilder !== 'string' || (t.parent !== undefined && !isRef(t.parent))) throw new ManifestError('field tree malformed');
    if (expect.kind === 'packages' && !t.parent) throw new ManifestError('a packages layer needs its parent');
    if (names.length !== 1 || names[0] !== 'rootfs.tar') throw new ManifestError('a tree is exactly one file, rootfs.tar');
  }
  return m as Manifest;
}
