/**
 * Builds a tree node (a shared base, or an appliance's packages layer): `distrobuilder
 * build-dir` into a fresh `.cache/tmp/<node>.<rnd>/tree/rootfs`, a tarball of it for the layers
 * built on a base (`rootfs-http` with a `file://` URL starts a `build-dir` from it), then the
 * folder renamed to `.cache/trees/<key hash>/` and only after that the node record written.
 * Whatever happens (failure, Ctrl-C, kill -9), a node is either fully recorded or not at all;
 * a tree in `.cache/trees/` is never modified (packs work on an overlay of it).
 * @module
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { privilegePrefix } from '../validate/distrobuilder.ts';
import { ALPINE_MIRROR_UNSET } from '../compile/context.ts';
import { PARENT_URL } from '../compile/compile.ts';
import { closeRun, NodeLog } from './distrobuilder.ts';
import type { ExecJob, Executor } from './executor.ts';
import type { RunEvent } from './events.ts';
import { safeRemove } from './fsutil.ts';
import { foreignArchProblem } from './arch-check.ts';
import type { NodePlan } from './node-plan.ts';
import { nodeLogFile, nodeSlug, treeDir, type ProjectPaths } from './paths.ts';
import { NODE_RECORD_FORMAT, readNodeRecords, writeNodeRecord, type NodeRecord, type RemoteTree } from './record.ts';
import type { Toolchain } from './toolchain.ts';

/** What every node build of a run shares. */
export interface RunContext {
  paths: ProjectPaths;
  toolchain: Toolchain;
  options: Record<string, string>;
  context: Record<string, string>;
  env: NodeJS.ProcessEnv;
  emit: (e: RunEvent) => void;
  /** Aborted on Ctrl-C / SIGTERM: running builds are stopped and cleaned up. */
  signal: AbortSignal;
  /** Where distrobuilder runs (this host unless `--builder`). */
  executor: Executor;
  /**
   * Trees built on a builder with a tree cache volume stay there (recorded by checksum), not
   * brought back: false when something here needs their bytes (uploads to the remote cache).
   */
  leaveTrees?: boolean;
}

/** The outcome of one node build: the record, or why it failed (and where its log is). */
export type NodeOutcome = { ok: true; record: NodeRecord; ms: number } | { ok: false; message: string; log: string; tail: string[]; ms: number };

/** Why a node cannot be built on this host at all, or undefined. */
export function runProblem(yaml: string, arch: NodePlan['arch'], rc: Pick<RunContext, 'toolchain' | 'env'> & { executor?: Executor }): string | undefined {
  // A builder brings its own distrobuilder and qemu-user (docs/scale.md, "Builders").
  const foreign = rc.executor?.local !== false ? foreignArchProblem(arch, rc.env) : undefined;
  if (foreign) return foreign;
  if (!rc.toolchain.path) return `distrobuilder not found ("${rc.toolchain.exe}"): run \`sudo bash lib/host/setup.sh\`, or set DISTROBUILDER to its path`;
  // The placeholder lets Alpine appliances compile and validate anywhere; it never downloads.
  if (yaml.includes(ALPINE_MIRROR_UNSET)) return 'no Alpine mirror configured: set APPLIANCE_ALPINE_MIRROR or pass --alpine-mirror URL';
  return undefined;
}

/** Tars a tree for the layers built on it (numeric owners, xattrs: what distrobuilder's unpack reads). */
async function tarTree(tree: string, signal: AbortSignal): Promise<string | undefined> {
  // A root tree has files only root can read: tar as root (through sudo when we are not).
  const [cmd, ...pre] = [...privilegePrefix(), 'tar'];
  const r = await execa(cmd, [...pre, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', join(tree, 'rootfs'), '-cf', join(tree, 'rootfs.tar'), '.'], { reject: false, cancelSignal: signal, stdin: 'ignore' });
  return r.exitCode === 0 ? undefined : `tar of the tree failed: ${r.stderr.split('\n')[0] || `exit code ${r.exitCode}`}`;
}

/**
 * A tree input of a job: a tree recorded as left on a builder and absent here carries its
 * checksum (the executor takes it from there, verified, or says it is lost).
 */
export function treeInput(path: string, rec: NodeRecord, form: 'tar' | 'tree'): NonNullable<ExecJob['trees']>[number] {
  return { path, key: rec.tree, form, ...(rec.remote && !existsSync(path) ? { sha256: rec.remote.sha256 } : {}) };
}

/** Builds one tree node on its parent's record (packages layers). Never throws for a build failure. */
export async function runTreeNode(n: NodePlan, parent: NodeRecord | undefined, rc: RunContext): Promise<NodeOutcome> {
  const p = rc.paths;
  const started = Date.now();
  for (const d of [p.tmp, p.logs, p.sources, p.trees]) mkdirSync(d, { recursive: true });
  const tmp = mkdtempSync(join(p.tmp, `${nodeSlug(n.node)}.`));
  const log = new NodeLog(nodeLogFile(p, n.node));
  const end = async (message?: string, record?: NodeRecord): Promise<NodeOutcome> => {
    const ms = await closeRun(log, tmp, started, p.root, rc.emit, message);
    if (record) return { ok: true, record, ms };
    return { ok: false, message: message ?? 'failed', log: relative(p.root, log.file), tail: log.last(), ms };
  };
  log.note(`# ${n.node}: build started ${new Date(started).toISOString()}`);
  log.note(`# why: ${n.reasons.join('; ')}`);
  const pulled = await pullLeftTree(n, tmp, log, rc);
  if (pulled) return end(undefined, pulled);
  const problem = runProblem(n.yaml, n.arch, rc);
  if (problem) return end(problem);
  if (rc.signal.aborted) return end('interrupted');
  const def = join(tmp, 'definition.yaml');
  const parentTar = parent ? join(treeDir(p, parent.tree), 'rootfs.tar') : undefined;
  writeFileSync(def, parentTar ? n.yaml.replaceAll(PARENT_URL, `file://${parentTar}`) : n.yaml);
  const tree = join(tmp, 'tree');
  const job: ExecJob = {
    run: {
      exe: rc.toolchain.path!, tmp, target: n.node, log, env: rc.env, signal: rc.signal, emit: rc.emit,
      args: ['build-dir', def, join(tree, 'rootfs'), '--sources-dir', p.sources, '-o', `image.architecture=${n.distroArch}`],
    },
    arch: n.arch,
    inputs: [def, ...(parentTar ? [parentTar] : [])],
    outputs: [tree],
    ...(parentTar && parent ? { trees: [treeInput(parentTar, parent, 'tar')] } : {}),
    keep: { key: n.hash, dir: tree, leave: !!rc.leaveTrees },
  };
  const failed = await rc.executor.run(job);
  if (failed) return end(failed);
  if (job.kept) {
    // Left on the builder (its volume's entry is the tarball): nothing of it on this host.
    if (rc.signal.aborted) return end('interrupted');
    return end(undefined, install(n, parent, tree, tmp, started, rc, job.kept));
  }
  if (n.kind === 'base') {
    rc.emit({ type: 'stage', target: n.node, stage: 'tarball for the layers' });
    const tarFailed = await tarTree(tree, rc.signal);
    if (tarFailed) return end(rc.signal.aborted ? 'interrupted' : tarFailed);
  }
  if (rc.signal.aborted) return end('interrupted');
  return end(undefined, install(n, parent, tree, tmp, started, rc));
}

/**
 * A restore of a tree that a builder left in its volume, needed where this run builds (this host,
 * or another builder): pulled from there, verified, and placed like a build. Undefined when it
 * is not such a restore or the pull failed (logged; the node is then built).
 */
async function pullLeftTree(n: NodePlan, tmp: string, log: NodeLog, rc: RunContext): Promise<NodeRecord | undefined> {
  const rec = n.record;
  if (!rec?.remote || n.refresh || rec.hash !== n.hash || rec.remote.home === rc.executor.treeHome) return undefined;
  const { pullTree } = await import('../builder/pull.ts');
  const tree = join(tmp, 'tree');
  const stage = (s: string) => rc.emit({ type: 'stage', target: n.node, stage: s });
  const failed = await pullTree({ from: rec.remote, key: rec.tree, dest: tree, keepTar: n.kind === 'base', tmp, signal: rc.signal, stage });
  if (failed) {
    log.note(`# pulling the tree from builder ${rec.remote.remote} failed: ${failed}; building it`);
    if (!rc.signal.aborted) rc.emit({ type: 'info', message: `${n.node}: pulling the tree from builder ${rec.remote.remote} failed (${failed}); building it` });
    return undefined;
  }
  const line = `tree pulled from builder ${rec.remote.remote} (volume ${rec.remote.volume}, sha256 ${rec.remote.sha256.slice(0, 12)} verified)`;
  log.note(`# ${line}`);
  stage(line);
  placeTree(rc.paths, n, tree, tmp, rec);
  return rec;
}

/**
 * Renames a root tree. Moving a folder to another parent needs write permission on the folder
 * itself (its `..` entry): a tree distrobuilder made as root moves through `sudo mv` when we
 * are not root.
 */
export function moveTree(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    if (process.getuid?.() === 0 || (e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    const r = spawnSync('sudo', ['-n', 'mv', '-T', from, to], { stdio: 'ignore' });
    if (r.status !== 0) throw e;
  }
}

/** Moves a finished tree into place and records it: the record is written last. */
function install(n: NodePlan, parent: NodeRecord | undefined, tree: string, tmp: string, started: number, rc: RunContext, remote?: RemoteTree): NodeRecord {
  const builtAt = new Date().toISOString();
  const record: NodeRecord = {
    format: NODE_RECORD_FORMAT,
    node: n.node,
    kind: n.kind,
    arch: n.arch,
    hash: n.hash,
    key: n.key,
    tree: n.hash,
    context: rc.context,
    builtAt,
    refreshedAt: n.refresh || !n.record ? builtAt : n.record.refreshedAt,
    durationMs: Date.now() - started,
    distrobuilder: rc.toolchain.version,
    ...(parent && n.parent ? { parent: { node: n.parent.node, hash: parent.hash, refreshedAt: parent.refreshedAt } } : {}),
    ...(remote ? { remote } : {}),
  };
  placeTree(rc.paths, n, tree, tmp, record);
  return record;
}

/**
 * Moves a finished tree (`tree`, holding `rootfs/`) to `.cache/trees/<key hash>/`, then writes
 * its record, then drops the tree the node had before when nothing else uses it. Built, pulled
 * or fetched from the remote cache alike; a tree left on a builder (`record.remote` and no
 * `tree` here) only gets its record.
 */
export function placeTree(p: ProjectPaths, n: NodePlan, tree: string, tmp: string, record: NodeRecord): void {
  const final = treeDir(p, n.hash);
  // A tree with the same key (a restore, or one left by a run killed before its record): aside.
  // Also when the new one stays on a builder: one copy of a key, the one recorded.
  if (existsSync(final)) moveTree(final, join(tmp, 'previous'));
  if (!record.remote || existsSync(join(tree, 'rootfs'))) moveTree(tree, final);
  writeNodeRecord(p, record);
  // The tree this node had before (another key) is referenced by nothing now.
  if (n.record && n.record.tree !== record.tree) {
    const old = treeDir(p, n.record.tree);
    if (!readNodeRecords(p).some((r) => r.tree === n.record!.tree)) safeRemove(old);
  }
}
