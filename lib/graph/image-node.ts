/**
 * Builds a target's image layer: `distrobuilder pack-incus` of its parent tree (the packages
 * layer, or the base when the appliance installs nothing) into a fresh `.cache/tmp/` folder;
 * pack-incus works on an overlay, so the tree is never modified and many packs share it. It
 * runs the files and post-files stages and makes the image, nothing else: no download, no
 * package manager. The outputs are renamed into `.cache/out/<name>-<arch>/` only on success and
 * the record written only after that.
 * @module
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { PARENT_URL } from '../compile/compile.ts';
import { closeRun, NodeLog } from './distrobuilder.ts';
import { IMAGE_LOGIC_VERSION } from './options.ts';
import { logFile, outDir, targetSlug, treeDir, type ProjectPaths } from './paths.ts';
import type { TargetPlan } from './plan.ts';
import { RECORD_FORMAT, writeRecord, type NodeRecord, type NodeRef, type OutputStat, type TargetRecord } from './record.ts';
import { runProblem, treeInput, type RunContext } from './tree-node.ts';
import type { Attestation } from '../trust/attest.ts';

/** The outcome of one image build. */
export interface PackResult {
  target: string;
  ok: boolean;
  ms: number;
  record?: TargetRecord;
  message?: string;
  log: string;
  tail?: string[];
}

function metadataFile(names: string[]): string | undefined {
  return names.find((n) => /^incus\.tar(\.[a-z0-9]+)?$/.test(n));
}

/** Stats of the files in a finished output folder. */
export function outputStats(dir: string): Record<string, OutputStat> {
  const out: Record<string, OutputStat> = {};
  for (const n of readdirSync(dir).sort()) {
    const s = statSync(join(dir, n));
    if (s.isFile()) out[n] = { size: s.size, mtimeMs: s.mtimeMs };
  }
  return out;
}

const DECOMPRESS: Record<string, string> = { zst: 'zstd', gz: 'gzip', bz2: 'bzip2', lzma: 'xz', lz4: 'lz4' };

/**
 * SimpleStreams clients accept only an `incus.tar.xz` metadata item: a metadata tarball made
 * with another `--compression` (a few KiB) is recompressed with xz. The rootfs keeps its
 * compression (Incus reads it from the squashfs superblock).
 */
async function metadataToXz(out: string, meta: string, signal: AbortSignal): Promise<string | undefined> {
  const ext = meta.slice('incus.tar.'.length);
  const tool = DECOMPRESS[ext];
  if (!tool) return `cannot recompress ${meta} to xz (unknown compression "${ext}")`;
  const r = await execa('sh', ['-c', `${tool} -dc "$1" | xz -6 -c > "$2"`, 'sh', join(out, meta), join(out, 'incus.tar.xz')], { reject: false, cancelSignal: signal, stdin: 'ignore' });
  if (r.exitCode !== 0) return `recompressing ${meta} to xz failed: ${r.stderr.split('\n')[0] || `exit code ${r.exitCode}`}`;
  rmSync(join(out, meta));
  return undefined;
}

/** Runs pack-incus into `out` and checks what it wrote; returns why it failed, or undefined. */
async function pack(tp: TargetPlan, tree: NodeRecord, tmp: string, out: string, log: NodeLog, rc: RunContext): Promise<string | undefined> {
  const p = rc.paths;
  const c = tp.compiled!;
  const def = join(tmp, 'definition.yaml');
  writeFileSync(def, c.yaml.replaceAll(PARENT_URL, `file://${join(treeDir(p, tree.tree), 'rootfs.tar')}`));
  mkdirSync(out);
  const rootfs = join(treeDir(p, tree.tree), 'rootfs');
  const failed = await rc.executor.run({
    run: {
      exe: rc.toolchain.path!, tmp, target: tp.target, log, env: rc.env, signal: rc.signal, emit: rc.emit, handBack: out,
      args: ['pack-incus', def, rootfs, out, '--type', rc.options.type, '--compression', rc.options.compression, '-o', `image.architecture=${c.distroArch}`],
    },
    arch: tp.arch,
    inputs: [def, rootfs],
    outputs: [out],
    offline: true,
    trees: [treeInput(rootfs, tree, 'tree')],
  });
  if (failed) return failed;
  const names = readdirSync(out);
  const meta = metadataFile(names);
  if (!meta) return `distrobuilder succeeded but wrote no incus.tar.* into ${relative(p.root, out)}`;
  if (rc.options.type === 'split' && !names.includes('rootfs.squashfs')) return `distrobuilder succeeded but wrote no rootfs.squashfs into ${relative(p.root, out)}`;
  if (rc.options.type === 'split' && meta !== 'incus.tar.xz') return metadataToXz(out, meta, rc.signal);
  return undefined;
}

/** Builds one stale target's image on `tree`. Never throws for a build failure (`ok: false`). */
export async function packImage(tp: TargetPlan, tree: NodeRecord, chain: NodeRef[], rc: RunContext): Promise<PackResult> {
  const p = rc.paths;
  const started = Date.now();
  for (const d of [p.tmp, p.logs, p.out]) mkdirSync(d, { recursive: true });
  const tmp = mkdtempSync(join(p.tmp, `${targetSlug(tp.target)}.`));
  const log = new NodeLog(logFile(p, tp.target));
  const end = async (message?: string, record?: TargetRecord): Promise<PackResult> => {
    const ms = await closeRun(log, tmp, started, p.root, rc.emit, message);
    return { target: tp.target, ok: !message, ms, record, message, log: relative(p.root, log.file), tail: log.last() };
  };
  log.note(`# ${tp.target}: image build started ${new Date(started).toISOString()} on ${chain.at(-1)!.node}`);
  log.note(`# why: ${tp.reasons.join('; ')}`);
  const problem = runProblem(tp.compiled!.yaml, tp.arch, rc);
  if (problem) return end(problem);
  if (rc.signal.aborted) return end('interrupted');
  const out = join(tmp, 'out');
  const failed = await pack(tp, tree, tmp, out, log, rc);
  if (failed) return end(rc.signal.aborted ? 'interrupted' : failed);
  if (rc.signal.aborted) return end('interrupted');
  const builtAt = new Date();
  let attestation: Attestation | undefined;
  try {
    attestation = await attest(tp, chain, out, started, builtAt, rc);
  } catch (e) {
    return end(rc.signal.aborted ? 'interrupted' : `SBOM and provenance: ${(e as Error).message}`);
  }
  if (rc.signal.aborted) return end('interrupted');
  return end(undefined, install(tp, chain, tmp, out, started, builtAt, attestation, rc));
}

/** This project's version (package.json), for the SBOM's tool and the provenance's builder. */
function registryVersion(root: string): string {
  try {
    return String(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/**
 * The SBOM (read from the finished squashfs) and the provenance statement, written into `out`
 * beside the image. Unified images (never indexed) get none.
 */
async function attest(tp: TargetPlan, chain: NodeRef[], out: string, started: number, finishedOn: Date, rc: RunContext): Promise<Attestation | undefined> {
  const names = readdirSync(out);
  const meta = metadataFile(names);
  if (!meta || !names.includes('rootfs.squashfs')) return undefined;
  rc.emit({ type: 'stage', target: tp.target, stage: 'SBOM and provenance' });
  const { attestImage } = await import('../trust/attest.ts');
  const c = tp.compiled!;
  return attestImage(out, meta, {
    target: tp.target, appliance: { name: c.meta.name, version: c.meta.version }, arch: tp.arch, key: c.hash, chain, inputs: c.inputs,
    options: { ...rc.options }, context: rc.context,
    toolchain: { distrobuilder: rc.toolchain.version, builder: IMAGE_LOGIC_VERSION, registry: registryVersion(rc.paths.root), node: process.version },
    startedOn: new Date(started), finishedOn,
  }, rc.signal);
}

/** Moves finished outputs into place and records them: the record is written last. */
function install(tp: TargetPlan, chain: NodeRef[], tmp: string, out: string, started: number, finished: Date, attestation: Attestation | undefined, rc: RunContext): TargetRecord {
  const p = rc.paths;
  const c = tp.compiled!;
  const builtAt = finished.toISOString();
  const durationMs = finished.getTime() - started;
  const names = readdirSync(out);
  writeFileSync(join(out, 'build.json'), JSON.stringify({
    target: tp.target, appliance: c.meta, arch: tp.arch, hash: c.hash, builtAt, durationMs,
    distrobuilder: rc.toolchain.version, options: rc.options, reasons: tp.reasons, chain,
    metadata: metadataFile(names), rootfs: names.includes('rootfs.squashfs') ? 'rootfs.squashfs' : undefined, attestation,
  }, null, 1) + '\n');
  // Into place: the old outputs step aside (into tmp, removed with it), the new ones move in.
  const final = outDir(p, tp.target);
  if (existsSync(final)) renameSync(final, join(tmp, 'previous'));
  renameSync(out, final);
  const record: TargetRecord = {
    format: RECORD_FORMAT, target: tp.target, name: tp.name, arch: tp.arch, hash: c.hash, builder: IMAGE_LOGIC_VERSION,
    distrobuilder: rc.toolchain.version, options: { ...rc.options }, context: rc.context, inputs: c.inputs, appliance: c.meta,
    outputs: outputStats(final), builtAt, durationMs, indexed: false, chain, ...(attestation ? { attestation } : {}),
  };
  // Only now, with the outputs complete and in place, is the key recorded.
  writeRecord(p, record, c.keyFile);
  return record;
}

/** Rewrites the record of a fresh target whose inputs' stats changed (no rebuild). */
export function refreshRecord(p: ProjectPaths, tp: TargetPlan, context: Record<string, string>): TargetRecord | undefined {
  const rec = tp.record;
  const c = tp.compiled;
  if (!rec || !c) return undefined;
  const next: TargetRecord = { ...rec, inputs: c.inputs, appliance: c.meta, context };
  writeRecord(p, next, c.keyFile);
  return next;
}

/** Marks a record as indexed by the registry stage. */
export function markIndexed(p: ProjectPaths, rec: TargetRecord): void {
  writeRecord(p, { ...rec, indexed: true });
}
