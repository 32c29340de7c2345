/**
 * The provenance of an image: an in-toto Statement v1 with a SLSA Provenance v1 predicate,
 * one JSON line (`provenance.intoto.jsonl`). It names the image files by sha256 (the subject),
 * what the build was asked for (target, appliance, options), what it was made from (every input
 * module and shipped file by the content hash the build key used, the base and packages nodes
 * by their key hashes, the host context such as the mirror) and by what (distrobuilder, this
 * builder, Node), when and how long. It is not signed on its own: its sha256 is in the signed
 * images.json, like every file of a version.
 * @module
 */
import type { InputStat, NodeRef } from '../graph/record.ts';

/** The build type URI of our predicate (a URN: the project has no canonical web address). */
export const BUILD_TYPE = 'urn:incus-appliance-registry:image-build:v1';

/** What a provenance statement is made from. */
export interface ProvenanceInput {
  target: string;
  appliance: { name: string; version: string };
  arch: string;
  /** sha256 of each image file, by file name. */
  files: Record<string, string>;
  /** The Incus fingerprint, sha256(metadata ++ rootfs). */
  fingerprint: string;
  /** The image layer's build key hash (xxh64). */
  key: string;
  /** The tree nodes the image was packed on, base first, with their key hashes. */
  chain: NodeRef[];
  /** Inputs by project-relative path, with the content hash the key used. */
  inputs: Record<string, InputStat>;
  options: Record<string, string>;
  context: Record<string, string>;
  toolchain: { distrobuilder: string; builder: number; registry: string; node: string };
  startedOn: Date;
  finishedOn: Date;
}

/** The in-toto statement (one JSON line, ending in a newline). */
export function makeProvenance(p: ProvenanceInput): string {
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: Object.entries(p.files).sort(([a], [b]) => a.localeCompare(b)).map(([name, sha256]) => ({ name, digest: { sha256 } })),
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: { target: p.target, appliance: p.appliance.name, version: p.appliance.version, architecture: p.arch, options: p.options },
        internalParameters: { context: p.context, imageKey: p.key, fingerprint: p.fingerprint },
        resolvedDependencies: [
          ...p.chain.map((n) => ({ name: n.node, uri: `urn:incus-appliance-registry:node:${n.node}`, digest: { xxh64: n.hash }, annotations: { refreshedAt: n.refreshedAt, layer: n.node.startsWith('base/') ? 'base' : 'packages' } })),
          ...Object.entries(p.inputs).sort(([a], [b]) => a.localeCompare(b)).map(([path, s]) => ({ name: path, uri: `file:${path}`, digest: { xxh64: s.hash }, annotations: { kind: s.kind, size: s.size } })),
        ],
      },
      runDetails: {
        builder: {
          id: 'urn:incus-appliance-registry:builder',
          version: { 'incus-appliance-registry': p.toolchain.registry, builderLogic: String(p.toolchain.builder), distrobuilder: p.toolchain.distrobuilder, node: p.toolchain.node },
        },
        metadata: { invocationId: `${p.target}@${p.finishedOn.toISOString()}`, startedOn: p.startedOn.toISOString(), finishedOn: p.finishedOn.toISOString() },
      },
    },
  };
  return JSON.stringify(statement) + '\n';
}
