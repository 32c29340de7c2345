/**
 * Build records: what the last successful build of a target was made from. One small JSON file
 * per target (`.cache/records/<name>-<arch>.json`, read on every run) and, beside it, the full
 * key JSON (`<name>-<arch>.key.json`, read only to explain a rebuild). Both are written
 * atomically, the key file first, and only after the outputs are in place.
 * @module
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../compile/model.ts';
import type { Hash } from './hash.ts';
import { writeFileAtomicSync } from '../files.ts';
import { nodeSlug, targetSlug, type ProjectPaths } from './paths.ts';
import type { Attestation } from '../trust/attest.ts';

/** Format tag of record files; a record with another tag is foreign and ignored with a warning. */
export const RECORD_FORMAT = 'incus-appliance-build-record/1';

/** What an input is: the appliance's modules, a file it ships from files/, or the builder's own code. */
export type InputKind = 'module' | 'file' | 'tool';

/** The stat fingerprint and content hash of one input file. */
export interface InputStat {
  kind: InputKind;
  size: number;
  /** Modification time in ms (fractional: nanoseconds kept as far as a double allows). */
  mtimeMs: number;
  ino: number;
  hash: Hash;
  /**
   * Modified so shortly before it was hashed that a later edit could keep the same mtime: its
   * stat is not trusted and it is re-hashed next time (git's "racy" entries).
   */
  racy?: boolean;
}

/** Appliance metadata the registry needs and the fast path uses to resolve targets. */
export interface ApplianceMeta {
  name: string;
  version: string;
  description: string;
  architectures: Arch[];
  base: { name: string; release: string; title: string };
}

/** Size and mtime of one output file. */
export interface OutputStat {
  size: number;
  mtimeMs: number;
}

/** The record of one target's last successful build. */
export interface TargetRecord {
  format: typeof RECORD_FORMAT;
  target: string;
  name: string;
  arch: Arch;
  /** xxh64 of the canonical key JSON. */
  hash: Hash;
  /** Builder logic version the key was made with. */
  builder: number;
  /** distrobuilder version used. */
  distrobuilder: string;
  /** Image options (type, compression). */
  options: Record<string, string>;
  /** Host-derived compile context (mirrors), to notice a changed environment without compiling. */
  context: Record<string, string>;
  /** Inputs by path relative to the project root. */
  inputs: Record<string, InputStat>;
  appliance: ApplianceMeta;
  /** Output files by name, in `.cache/out/<name>-<arch>/`. */
  outputs: Record<string, OutputStat>;
  /** ISO time the build finished. */
  builtAt: string;
  /** Wall time of the build, ms. */
  durationMs: number;
  /** The registry stage has indexed these outputs. */
  indexed: boolean;
  /**
   * The nodes the image was packed on, base first (absent in records of the flat builder): a
   * node rebuilt since (another key, or refreshed by `--max-age`) makes the target stale.
   */
  chain?: NodeRef[];
  /**
   * The SBOM and provenance written beside the image (`sbom.cdx.json`,
   * `provenance.intoto.jsonl` in its outputs), with its fingerprint and package count. A split
   * image recorded without them (built before they existed) is stale: its image layer is packed
   * again (see plan.ts `outputsProblem`).
   */
  attestation?: Attestation;
  /** ISO time the outputs were fetched from the remote cache (absent: built here). */
  fetchedAt?: string;
}

/** Format tag of node records. */
export const NODE_RECORD_FORMAT = 'incus-appliance-node-record/1';

/** Kinds of tree nodes: the shared base, and an appliance's packages layer. */
export type NodeKind = 'base' | 'packages';

/** What a child recorded of a node it was built on. */
export interface NodeRef {
  /** `base/debian-trixie:amd64` or `nginx:amd64/packages`. */
  node: string;
  hash: Hash;
  /**
   * When the node's content last changed on purpose (first build, new key, `--max-age`). A
   * rebuild that only restores a removed tree keeps it, so children stay fresh.
   */
  refreshedAt: string;
}

/** The key of a tree node; its canonical JSON is hashed. */
export interface NodeKey {
  builder: number;
  kind: NodeKind;
  arch: Arch;
  distrobuilder: string;
  /** xxh64 of the exact YAML (with the parent's location replaced by a placeholder). */
  yaml: Hash;
  /** The definition, long strings replaced by their hash. */
  definition: unknown;
  /** The parent node's key hash (packages layers). */
  parent?: Hash;
}

/** The record of a base or packages node's last successful build. */
export interface NodeRecord {
  format: typeof NODE_RECORD_FORMAT;
  node: string;
  kind: NodeKind;
  arch: Arch;
  hash: Hash;
  key: NodeKey;
  /** Folder name of its tree under `.cache/trees/`. */
  tree: string;
  /** Host-derived context it was built with (mirrors), to explain a changed key. */
  context: Record<string, string>;
  builtAt: string;
  refreshedAt: string;
  durationMs: number;
  distrobuilder: string;
  /** The node it was built on (packages layers). */
  parent?: NodeRef;
  /** ISO time the tree was fetched from the remote cache (absent: built here). */
  fetchedAt?: string;
  /**
   * The tree was left on a builder's side (its tree cache volume) instead of being brought to
   * `.cache/trees/`: a run on the same builder reads it there, anything else pulls it (verified
   * by `sha256`) or rebuilds it. Absent: the tree is in `.cache/trees/<tree>/`.
   */
  remote?: RemoteTree;
}

/** Where a builder keeps a node's tree, and the checksum that identifies it (docs/scale.md, "Trees left on the builder"). */
export interface RemoteTree {
  /** The executor's tree home (`remote/project/volume`): a run there uses the tree where it is. */
  home: string;
  remote: string;
  /** Incus project of the builder (absent: the remote's current one). */
  project?: string;
  pool: string;
  volume: string;
  /** A builder image on that remote: a pull reads the volume through a container of it. */
  image: string;
  /** sha256 and size of the tree's tarball in the volume: content with another checksum is not this tree. */
  sha256: string;
  bytes: number;
}

/** Path of the record of a node. */
export function nodeRecordPath(p: ProjectPaths, node: string): string {
  return join(p.nodeRecords, `${nodeSlug(node)}.json`);
}

/** Reads the record of a node; undefined when missing or unusable (it is then rebuilt). */
export function readNodeRecord(p: ProjectPaths, node: string): NodeRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(nodeRecordPath(p, node), 'utf8')) as NodeRecord;
    if (!isObj(r) || r.format !== NODE_RECORD_FORMAT || r.node !== node || typeof r.hash !== 'string' || typeof r.tree !== 'string' || typeof r.refreshedAt !== 'string') return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/** Every usable node record. */
export function readNodeRecords(p: ProjectPaths): NodeRecord[] {
  if (!existsSync(p.nodeRecords)) return [];
  const out: NodeRecord[] = [];
  for (const n of readdirSync(p.nodeRecords)) {
    if (!n.endsWith('.json')) continue;
    try {
      const r = JSON.parse(readFileSync(join(p.nodeRecords, n), 'utf8')) as NodeRecord;
      if (isObj(r) && r.format === NODE_RECORD_FORMAT && typeof r.node === 'string' && nodeSlug(r.node) + '.json' === n) out.push(r);
    } catch {
      /* unusable: the node is rebuilt when needed */
    }
  }
  return out;
}

/** Writes a node record atomically (after its tree is in place). */
export function writeNodeRecord(p: ProjectPaths, r: NodeRecord): void {
  writeFileAtomicSync(nodeRecordPath(p, r.node), JSON.stringify(r, null, 1) + '\n');
}

/** The key file beside a record. */
export interface KeyFile {
  hash: Hash;
  /** The key exactly as hashed. */
  key: TargetKey;
  /** Per-field hashes of the appliance spec (not part of the key; used to name changed fields). */
  fields: Record<string, Hash>;
}

/** The build key: everything that changes the image. Its canonical JSON is hashed. */
export interface TargetKey {
  /** Version of this builder's own image logic (flags, output handling). */
  builder: number;
  arch: Arch;
  /** distrobuilder version. */
  distrobuilder: string;
  /** Image options: `type`, `compression`. */
  options: Record<string, string>;
  /** xxh64 of the exact YAML handed to distrobuilder. */
  yaml: Hash;
  /**
   * The compiled definition, with the content of files from files/ replaced by `{"@file":
   * "files/x"}` and long scripts by their hash, so a diff names the field that changed.
   */
  definition: unknown;
  /** Content hash of every file the image receives from files/, by `files/<path>`. */
  files: Record<string, Hash>;
}

/** A record file that could not be used. */
export interface BadRecord {
  target?: string;
  file: string;
  problem: string;
}

/** Path of the record of `target`. */
export function recordPath(p: ProjectPaths, target: string): string {
  return join(p.records, `${targetSlug(target)}.json`);
}

/** Path of the key file of `target`. */
export function keyPath(p: ProjectPaths, target: string): string {
  return join(p.records, `${targetSlug(target)}.key.json`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks the shape of a parsed record; returns the problem, or undefined when usable. */
export function recordProblem(r: unknown, slug: string): string | undefined {
  if (!isObj(r)) return 'not a JSON object';
  if (r.format !== RECORD_FORMAT) return `format ${JSON.stringify(r.format)} is not ${RECORD_FORMAT}`;
  if (typeof r.target !== 'string' || targetSlug(r.target) !== slug) return `target ${JSON.stringify(r.target)} does not match the file name`;
  for (const k of ['hash', 'distrobuilder', 'builtAt', 'name', 'arch'] as const) if (typeof r[k] !== 'string') return `field ${k} missing`;
  for (const k of ['inputs', 'outputs', 'options', 'context', 'appliance'] as const) if (!isObj(r[k])) return `field ${k} missing`;
  if (typeof r.builder !== 'number') return 'field builder missing';
  for (const [path, s] of Object.entries(r.inputs as object)) {
    if (!isObj(s) || typeof s.size !== 'number' || typeof s.mtimeMs !== 'number' || typeof s.ino !== 'number' || typeof s.hash !== 'string') return `input ${path} malformed`;
  }
  const a = r.appliance as Record<string, unknown>;
  if (!Array.isArray(a.architectures) || typeof a.version !== 'string' || !isObj(a.base)) return 'field appliance malformed';
  return undefined;
}

/** Every record of the project: good ones by target, and the unusable ones. */
export function readRecords(p: ProjectPaths): { records: Map<string, TargetRecord>; bad: BadRecord[] } {
  const records = new Map<string, TargetRecord>();
  const bad: BadRecord[] = [];
  if (!existsSync(p.records)) return { records, bad };
  for (const n of readdirSync(p.records)) {
    if (!n.endsWith('.json') || n.endsWith('.key.json') || n === 'toolchain.json') continue;
    const file = join(p.records, n);
    const slug = n.slice(0, -'.json'.length);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      bad.push({ file, target: slugTarget(slug), problem: `not valid JSON (${(e as Error).message.split('\n')[0]})` });
      continue;
    }
    const problem = recordProblem(parsed, slug);
    if (problem) bad.push({ file, target: slugTarget(slug), problem });
    else records.set((parsed as TargetRecord).target, migrateInputs(parsed as TargetRecord));
  }
  return { records, bad };
}

/** Input names of older records, and their names now (the YAML emitter's version is found through Node's resolver). */
const RENAMED_INPUTS: Readonly<Record<string, string>> = { 'node_modules/yaml/package.json': 'package:yaml/package.json' };

/**
 * Renames the inputs of a record written before {@link RENAMED_INPUTS}: the file is the same,
 * so its recorded stat still matches and the record stays fresh, and an explanation never names
 * the rename as a removed and an added input.
 */
function migrateInputs(r: TargetRecord): TargetRecord {
  if (!Object.keys(r.inputs).some((k) => k in RENAMED_INPUTS)) return r;
  return { ...r, inputs: Object.fromEntries(Object.entries(r.inputs).map(([k, v]) => [RENAMED_INPUTS[k] ?? k, v])) };
}

/** `nginx-amd64` -> `nginx:amd64` (the architecture never contains a dash). */
function slugTarget(slug: string): string | undefined {
  const i = slug.lastIndexOf('-');
  return i > 0 ? `${slug.slice(0, i)}:${slug.slice(i + 1)}` : undefined;
}

/** Reads the key file of a target; undefined when missing, unreadable or not matching `hash`. */
export function readKeyFile(p: ProjectPaths, target: string, hash?: Hash): KeyFile | undefined {
  try {
    const k = JSON.parse(readFileSync(keyPath(p, target), 'utf8')) as KeyFile;
    if (!isObj(k) || !isObj(k.key) || typeof k.hash !== 'string') return undefined;
    if (hash && k.hash !== hash) return undefined;
    return k;
  } catch {
    return undefined;
  }
}

/** Writes the key file, then the record (each atomically): a record never points to a missing key. */
export function writeRecord(p: ProjectPaths, record: TargetRecord, key?: KeyFile): void {
  if (key) writeFileAtomicSync(keyPath(p, record.target), JSON.stringify(key, null, 1) + '\n');
  writeFileAtomicSync(recordPath(p, record.target), JSON.stringify(record, null, 1) + '\n');
}

/** Removes the record and key file of a target. */
export function removeRecord(p: ProjectPaths, target: string): string[] {
  const removed: string[] = [];
  for (const f of [recordPath(p, target), keyPath(p, target)]) {
    if (existsSync(f)) {
      rmSync(f, { force: true });
      removed.push(f);
    }
  }
  return removed;
}
