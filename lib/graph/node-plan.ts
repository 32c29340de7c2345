/**
 * Planning the tree nodes of the layered graph: one base node per (base definition, arch),
 * shared by every appliance on it, and one packages node per appliance target that installs
 * packages. A stale target always repacks its image; walking up from there, a node runs when
 * its key changed, when its parent changed on purpose (a new key, `--max-age`), when `--force`
 * asks for the target's own layers, or when its tree is needed and was removed (a restore,
 * which children do not see as a change).
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../compile/model.ts';
import type { Hash } from './hash.ts';
import { formatDuration } from '../format.ts';
import { IMAGE_LOGIC_VERSION } from './options.ts';
import { treeDir, type ProjectPaths } from './paths.ts';
import type { NodeKey, NodeKind, NodeRecord, NodeRef, TargetRecord } from './record.ts';
import type { Toolchain } from './toolchain.ts';
import type { TargetPlan } from './plan.ts';

/** One tree node of the plan. */
export interface NodePlan {
  /** `base/debian-trixie:amd64` or `nginx:amd64/packages`. */
  node: string;
  kind: NodeKind;
  arch: Arch;
  /** The architecture name the distribution uses (`-o image.architecture=`). */
  distroArch: string;
  hash: Hash;
  key: NodeKey;
  /** The `build-dir` definition, with the compiler's `PARENT_URL` where the parent's tarball goes. */
  yaml: string;
  parent?: NodePlan;
  record?: NodeRecord;
  /** `build`: runs in this build; `fresh`: its recorded tree is used as it is. */
  status: 'fresh' | 'stale';
  /** Why it runs. */
  reasons: string[];
  /** True when its content changes on purpose (children rebuild); false for a restore. */
  refresh: boolean;
  /** Targets that need it, for messages. */
  dependants: string[];
}

/** What {@link planNodes} needs. */
export interface NodePlanRequest {
  paths: ProjectPaths;
  targets: TargetPlan[];
  nodeRecords: Map<string, NodeRecord>;
  toolchain: Toolchain;
  context: Record<string, string>;
  force: boolean;
  maxAgeMs?: number;
  maxAgeText?: string;
  nowMs: number;
  /** The executor's tree home ({@link import('./executor.ts').Executor.treeHome}): trees recorded there count as present. */
  treeHome?: string;
}

/** `base debian-trixie:amd64` or `packages layer`, for reasons. */
export function nodeLabel(node: string): string {
  return node.startsWith('base/') ? `base ${node.slice(5)}` : 'packages layer';
}

/** Why `rec`'s base has aged past `--max-age`, or undefined. */
function tooOld(r: NodeRecord, maxAgeMs: number | undefined, maxAgeText: string | undefined, nowMs: number): string | undefined {
  if (maxAgeMs === undefined) return undefined;
  const age = nowMs - Date.parse(r.refreshedAt);
  return age <= maxAgeMs ? undefined : `older than --max-age ${maxAgeText ?? formatDuration(maxAgeMs)} (built ${formatDuration(age)} ago)`;
}

/**
 * Why the nodes a target was packed on call for a rebuild without any change of its own: a
 * node rebuilt since (by another target's build), or a base past `--max-age`. Undefined when
 * nothing is known against them (records of the flat builder have no chain).
 */
export function chainProblem(rec: TargetRecord, nodes: Map<string, NodeRecord>, age: { maxAgeMs?: number; maxAgeText?: string }, nowMs: number): string | undefined {
  for (const ref of rec.chain ?? []) {
    const r = nodes.get(ref.node);
    if (!r) continue;
    if (r.hash !== ref.hash) return `${nodeLabel(ref.node)} changed`;
    if (r.refreshedAt !== ref.refreshedAt) return `${nodeLabel(ref.node)} rebuilt (${r.refreshedAt.replace('T', ' ').slice(0, 16)})`;
    if (r.kind === 'base') {
      const old = tooOld(r, age.maxAgeMs, age.maxAgeText, nowMs);
      if (old) return `${nodeLabel(ref.node)} ${old}`;
    }
  }
  return undefined;
}

/**
 * Why the recorded tree of `r` cannot be used where this run builds, or undefined: it is on disk
 * (with its tarball, for a base), or left on the builder this run uses (verified when read).
 */
function treeProblem(p: ProjectPaths, r: NodeRecord, home: string | undefined): string | undefined {
  const d = treeDir(p, r.tree);
  if (existsSync(join(d, 'rootfs')) && (r.kind !== 'base' || existsSync(join(d, 'rootfs.tar')))) return undefined;
  if (!r.remote) return 'tree missing (removed by clean): restoring it';
  if (r.remote.home === home) return undefined;
  return `tree left on builder ${r.remote.remote} (volume ${r.remote.volume}), needed ${home ? 'on another builder' : 'on this host'}: pulling it (or rebuilding it)`;
}

/** Why a node's key changed, from its record's key: toolchain, mirror, definition fields. */
async function explainNode(r: NodeRecord, key: NodeKey, context: Record<string, string>): Promise<string[]> {
  const { diffPaths } = await import('./key.ts');
  const out: string[] = [];
  if (r.key.distrobuilder !== key.distrobuilder) out.push(`distrobuilder ${r.key.distrobuilder} -> ${key.distrobuilder}`);
  if (r.key.builder !== key.builder) out.push(`builder logic v${r.key.builder} -> v${key.builder}`);
  const fields = [...new Set(diffPaths(r.key.definition, key.definition).map((d) => d.replace(/[.[].*$/, '')))];
  const mirrors = Object.keys({ ...r.context, ...context }).filter((k) => r.context[k] !== context[k]);
  if (fields.length === 1 && fields[0] === 'source' && mirrors.length) {
    const names: Record<string, string> = { debianMirror: 'Debian mirror', alpineMirror: 'Alpine mirror' };
    for (const k of mirrors) out.push(`${names[k] ?? k} changed (${r.context[k] || 'unset'} -> ${context[k] || 'unset'})`);
  } else if (fields.length) out.push(`${fields.join(', ')} changed`);
  if (!out.length && r.key.parent !== key.parent) out.push('base changed');
  return out.length ? out : ['key changed'];
}

/** Makes the plan of one node (memoised by name in `nodes`). */
async function nodeOf(nodes: Map<string, NodePlan>, req: NodePlanRequest, spec: { node: string; kind: NodeKind; arch: Arch; distroArch: string; def: import('../distrobuilder/definition.ts').Definition; parent?: NodePlan }): Promise<NodePlan> {
  const { makeNodeKey } = await import('./key.ts');
  const { toYaml } = await import('../compile/yaml.ts');
  const yaml = toYaml(spec.def);
  const { key, hash } = await makeNodeKey({ builder: IMAGE_LOGIC_VERSION, kind: spec.kind, arch: spec.arch, distrobuilder: req.toolchain.version, definition: spec.def, yaml, ...(spec.parent ? { parent: spec.parent.hash } : {}) });
  let node = spec.node;
  const seen = nodes.get(node);
  if (seen && seen.hash === hash) return seen;
  // The same base name and release with another definition (a variant's options): its own node.
  if (seen) node = node.replace(':', `~${hash.slice(0, 8)}:`);
  const existing = nodes.get(node);
  if (existing) return existing;
  const n: NodePlan = { node, kind: spec.kind, arch: spec.arch, distroArch: spec.distroArch, hash, key, yaml, parent: spec.parent, record: req.nodeRecords.get(node), status: 'fresh', reasons: [], refresh: false, dependants: [] };
  nodes.set(node, n);
  await evaluate(n, req);
  return n;
}

/** Decides whether a node runs because of its key, its age or its parent (not its tree). */
async function evaluate(n: NodePlan, req: NodePlanRequest): Promise<void> {
  const r = n.record;
  const stale = (reasons: string[]) => Object.assign(n, { status: 'stale', refresh: true, reasons });
  if (!r) return void stale([n.kind === 'base' ? 'new base' : 'new layer']);
  if (r.hash !== n.hash) return void stale(await explainNode(r, n.key, req.context));
  if (n.kind === 'base') {
    const old = tooOld(r, req.maxAgeMs, req.maxAgeText, req.nowMs);
    if (old) stale([old]);
    return;
  }
  const base = n.parent!;
  if (base.refresh) return void stale([`${nodeLabel(base.node)} rebuilt`]);
  if (base.record && (r.parent?.hash !== base.record.hash || r.parent?.refreshedAt !== base.record.refreshedAt)) stale([`${nodeLabel(base.node)} rebuilt`]);
}

/** Marks `n`'s tree as needed: a fresh node whose tree is gone is restored, and so on upwards. */
function need(n: NodePlan, req: NodePlanRequest, target: string): void {
  if (!n.dependants.includes(target)) n.dependants.push(target);
  const missing = n.status === 'fresh' && n.record ? treeProblem(req.paths, n.record, req.treeHome) : undefined;
  if (missing) Object.assign(n, { status: 'stale', refresh: false, reasons: [missing] });
  if (n.status === 'stale' && n.parent) need(n.parent, req, target);
}

/**
 * Builds the node plans of the compiled targets, decides which nodes run, and records on each
 * stale target its chain and the layers of its own that run. Returns the base nodes (fresh or
 * stale) that the targets use.
 */
export async function planNodes(req: NodePlanRequest): Promise<NodePlan[]> {
  const nodes = new Map<string, NodePlan>();
  for (const tp of req.targets) {
    const c = tp.compiled;
    if (!c) continue;
    const base = await nodeOf(nodes, req, { node: `base/${c.layers.baseId}:${tp.arch}`, kind: 'base', arch: tp.arch, distroArch: c.distroArch, def: c.layers.base });
    const pkgs = c.layers.packages && await nodeOf(nodes, req, { node: `${tp.target}/packages`, kind: 'packages', arch: tp.arch, distroArch: c.distroArch, def: c.layers.packages, parent: base });
    tp.chain = pkgs ? [base, pkgs] : [base];
  }
  for (const tp of req.targets) {
    if (tp.status !== 'stale' || !tp.chain) continue;
    const own = tp.chain.at(-1)!;
    if (req.force && own.kind === 'packages' && own.status === 'fresh') Object.assign(own, { status: 'stale', refresh: true, reasons: ['forced'] });
    need(own, req, tp.target);
    tp.layers = [...(own.kind === 'packages' && own.status === 'stale' ? ['packages'] : []), 'image'];
  }
  const bases = [...nodes.values()].filter((n) => n.kind === 'base');
  // Bases of fresh targets (fast path, not compiled): as recorded.
  for (const tp of req.targets) {
    const ref = tp.record?.chain?.[0];
    if (tp.compiled || !ref || bases.some((b) => b.node === ref.node)) continue;
    const r = req.nodeRecords.get(ref.node);
    if (r) bases.push({ node: r.node, kind: 'base', arch: r.arch, distroArch: '', hash: r.hash, key: r.key, yaml: '', record: r, status: 'fresh', reasons: [], refresh: false, dependants: [] });
  }
  return bases.sort((a, b) => a.node.localeCompare(b.node));
}

/** The reference a child records of a node once it is built (or as it is, when fresh). */
export function refOf(n: NodePlan, built?: NodeRecord): NodeRef {
  const r = built ?? n.record!;
  return { node: n.node, hash: r.hash, refreshedAt: r.refreshedAt };
}

