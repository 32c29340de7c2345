/**
 * Attestations of a freshly packed image, written beside it in its output folder before the
 * build is recorded: the SBOM (from the finished squashfs) and the provenance statement. The
 * image node calls {@link attestImage}; the registry publishes both files with the image.
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { imageContents } from './packages.ts';
import { makeProvenance, type ProvenanceInput } from './provenance.ts';
import { makeSbom } from './sbom.ts';

/** File names in the output folder (and item ftypes in the registry). */
export const SBOM_FILE = 'sbom.cdx.json';
export const PROVENANCE_FILE = 'provenance.intoto.jsonl';

/** What was attested, as kept in the build record. */
export interface Attestation {
  /** The Incus fingerprint: sha256(metadata ++ rootfs). */
  fingerprint: string;
  /** Installed packages listed in the SBOM. */
  packages: number;
  /** Package database read (`dpkg`, `apk`, `none`). */
  manager: string;
  sbom: typeof SBOM_FILE;
  provenance: typeof PROVENANCE_FILE;
}

async function feed(path: string, hashes: Hash[], signal?: AbortSignal): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) for (const h of hashes) h.update(chunk as Buffer);
}

/**
 * Writes `sbom.cdx.json` and `provenance.intoto.jsonl` into `dir`, which holds the packed
 * `metadata` tarball and `rootfs.squashfs`.
 * @throws Error when the image cannot be read (the build then fails: an image without its SBOM
 *   is never recorded)
 */
export async function attestImage(dir: string, metadata: string, input: Omit<ProvenanceInput, 'files' | 'fingerprint'>, signal?: AbortSignal): Promise<Attestation> {
  const rootfs = join(dir, 'rootfs.squashfs');
  const combined = createHash('sha256');
  const meta = createHash('sha256');
  const root = createHash('sha256');
  await feed(join(dir, metadata), [meta, combined], signal);
  await feed(rootfs, [root, combined], signal);
  const fingerprint = combined.digest('hex');
  const contents = await imageContents(rootfs, signal);
  const sbom = makeSbom({ name: input.appliance.name, version: input.appliance.version, arch: input.arch, fingerprint, builtAt: input.finishedOn, tool: { name: 'incus-appliance-registry', version: input.toolchain.registry } }, contents);
  await writeFile(join(dir, SBOM_FILE), sbom, { mode: 0o644 });
  const provenance = makeProvenance({ ...input, fingerprint, files: { [metadata]: meta.digest('hex'), 'rootfs.squashfs': root.digest('hex') } });
  await writeFile(join(dir, PROVENANCE_FILE), provenance, { mode: 0o644 });
  return { fingerprint, packages: contents.packages.length, manager: contents.manager, sbom: SBOM_FILE, provenance: PROVENANCE_FILE };
}
