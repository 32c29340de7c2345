/**
 * Planning: which targets are fresh, which are stale and why, which no longer exist; then which
 * nodes of the layered graph (shared bases, packages layers) must run for the stale ones
 * ({@link planNodes}).
 *
 * Fast path (a no-op costs a directory listing, the record files and stat() calls): a target
 * is fresh without importing or compiling anything when its record's inputs (appliance module,
 * the modules it imports, the compiler's modules, shipped files) all have the recorded
 * (size, mtime, inode), the toolchain, options and host context are unchanged, the nodes it was
 * packed on were not rebuilt since, and the outputs are intact. Otherwise the appliance is
 * imported and compiled, the new key is compared with the recorded one, and the differences
 * become the reasons. A target whose key did not change (a comment or formatting edit) stays
 * fresh; only its record is refreshed.
 *
 * Planning only reads (besides the toolchain cache), so `--dry-run` needs no lock.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import type { Appliance, Arch } from '../compile/model.ts';
import { hostArch } from '../arch.ts';
import { compileContext, type ContextOptions } from '../compile/context.ts';
import { UnknownApplianceError, UserError, type Diagnostic } from '../diagnostics.ts';
import { discoverAppliances, loadAppliance } from '../compile/load.ts';
import { parseTargetSpec } from '../compile/targets.ts';
import type { CompiledTarget } from '../compile/compile.ts';
import { canonicalJson, type Hash } from './hash.ts';
import { InputCache, moduleGraphs, PACKAGE_INPUT } from './inputs.ts';
import { IMAGE_LOGIC_VERSION, type ImageOptions } from './options.ts';
import { outDir, type ProjectPaths } from './paths.ts';
import { readKeyFile, readNodeRecords, readRecords, type ApplianceMeta, type BadRecord, type TargetKey, type InputKind, type InputStat, type KeyFile, type NodeRecord, type TargetRecord } from './record.ts';
import { toolchain, type Toolchain } from './toolchain.ts';
import { planNodes, chainProblem, type NodePlan } from './node-plan.ts';

/** What to plan. */
export interface PlanRequest {
  paths: ProjectPaths;
  /** Command-line targets (`name`, `name:arch`); empty = every appliance. */
  specs: string[];
  /** Every declared architecture instead of the host's. */
  allArch?: boolean;
  /** Rebuild the requested targets (their own layers) whatever their state. */
  force?: boolean;
  /** Rebuild base nodes built longer ago than this (ms); `maxAgeText` is how the user wrote it. */
  maxAgeMs?: number;
  maxAgeText?: string;
  options: ImageOptions;
  env: NodeJS.ProcessEnv;
  context?: ContextOptions;
  /** The distrobuilder that runs the nodes when it is not this host's (a builder's). */
  toolchain?: Toolchain;
  /** Where the executor keeps trees on its side (lib/graph/executor.ts `treeHome`). */
  treeHome?: string;
  /** Clock (ms), injectable for tests. */
  now?: () => number;
  /** Prints a warning. */
  warn: (message: string) => void;
  /** Traces the decisions (which appliances are imported and why), for `APPLIANCE_BUILD_DEBUG`. */
  debug?: (message: string) => void;
}

/** What compiling a target gave: everything needed to build it and record it. */
export interface Compiled {
  /** The `pack-incus` definition of the image layer (parent location as a placeholder). */
  yaml: string;
  distroArch: string;
  key: TargetKey;
  hash: Hash;
  keyFile: KeyFile;
  inputs: Record<string, InputStat>;
  meta: ApplianceMeta;
  /** The compiler's layers (base, packages, image). */
  layers: CompiledTarget['layers'];
}

/** The plan of one target. */
export interface TargetPlan {
  target: string;
  name: string;
  arch: Arch;
  /** `error`: the appliance does not load or compile (`error` says why). */
  status: 'fresh' | 'stale' | 'error';
  reasons: string[];
  /** The record of the last build, if any. */
  record?: TargetRecord;
  /** Present for stale targets, and for fresh ones that went through the slow path. */
  compiled?: Compiled;
  /** Fresh, but the record's input stats are out of date: rewrite it (no rebuild). */
  refresh?: boolean;
  error?: string;
  /** Source file of the error, for a located message. */
  errorFile?: string;
  /** The located problems behind `error` (the gate's, or the import's). */
  diagnostics?: Diagnostic[];
  /** The tree nodes this target's image is packed on, base first (known once compiled). */
  chain?: NodePlan[];
  /** Which of its own layers run: `packages` and/or `image` (stale targets). */
  layers?: string[];
}

/** A recorded target whose appliance or architecture no longer exists. */
export interface DeadTarget {
  target: string;
  reason: string;
}

/** The whole plan. */
export interface Plan {
  targets: TargetPlan[];
  /** Base nodes the requested targets use (fresh or to build), by node name. */
  bases: NodePlan[];
  dead: DeadTarget[];
  toolchain: Toolchain;
  context: Record<string, string>;
  /** Records as read when planning (to notice another build changing them). */
  records: Map<string, TargetRecord>;
  /**
   * Every live target (`name:arch` for every declared architecture of every appliance), or
   * undefined when an appliance does not load (its architectures are unknown).
   */
  liveTargets(): Promise<Set<string> | undefined>;
}

/** The project's own compiler module, whose module graph is an input of every target. */
const COMPILER = fileURLToPath(new URL('../compile/compile.ts', import.meta.url));
/** Installed packages whose version changes the compiled YAML (found by Node's resolver, not by path). */
const TOOL_PACKAGES = [`${PACKAGE_INPUT}yaml/package.json`];

/** What the planning steps share. */
interface PlanState {
  req: PlanRequest;
  p: ProjectPaths;
  names: string[];
  records: Map<string, TargetRecord>;
  bad: BadRecord[];
  nodeRecords: Map<string, NodeRecord>;
  /** Known once the requested appliances passed the gate (its cache is the one file planning writes). */
  tc: Toolchain;
  context: Record<string, string>;
  options: Record<string, string>;
  cache: InputCache;
  meta: Map<string, ApplianceMeta>;
  loaded: Map<string, Appliance>;
  loadErrors: Map<string, { message: string; file: string; diagnostics: Diagnostic[] }>;
  byName: Map<string, TargetRecord[]>;
  nowMs: number;
}

function metaOf(app: Appliance): ApplianceMeta {
  return {
    name: app.name,
    version: app.version,
    description: app.description,
    architectures: [...app.architectures],
    base: { name: app.base.name, release: app.base.release, title: app.base.title },
  };
}

/** Why the recorded outputs of `rec` cannot be used as they are, or undefined. */
function outputsProblem(p: ProjectPaths, rec: TargetRecord): string | undefined {
  const names = Object.keys(rec.outputs);
  if (names.length === 0) return 'output missing';
  // Issue 12: every published image carries its SBOM and provenance. Made from the finished
  // squashfs at pack time, so an image recorded without them repacks (image layer only).
  if (rec.outputs['rootfs.squashfs'] && !rec.attestation) return 'no SBOM or provenance yet (built before they existed)';
  for (const n of names) {
    const s = statSync(join(outDir(p, rec.target), n), { throwIfNoEntry: false });
    if (!s) return 'output missing';
    if (s.size !== rec.outputs[n].size || s.mtimeMs !== rec.outputs[n].mtimeMs) return `output ${n} modified`;
  }
  return undefined;
}

function startPlanning(req: PlanRequest): PlanState {
  const p = req.paths;
  const { records, bad } = readRecords(p);
  for (const b of bad) req.warn(`${relative(p.root, b.file)}: ${b.problem}; ignoring this record${b.target ? ` (${b.target} is rebuilt from scratch)` : ''}`);
  const cache = new InputCache(p.root);
  cache.learn(records.values());
  const byName = new Map<string, TargetRecord[]>();
  for (const r of records.values()) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  return {
    req,
    p,
    names: discoverAppliances(p.appliancesDir),
    records,
    bad,
    nodeRecords: new Map(readNodeRecords(p).map((r) => [r.node, r])),
    tc: undefined as unknown as Toolchain,
    context: { ...compileContext(req.context ?? {}, req.env) },
    options: { ...req.options },
    cache,
    meta: new Map(),
    loaded: new Map(),
    loadErrors: new Map(),
    byName,
    nowMs: (req.now ?? Date.now)(),
  };
}

/**
 * Imports an appliance (slow path only) and passes it through the gate: an appliance that does
 * not load or is refused becomes a load error with located diagnostics, and is never compiled.
 */
async function load(s: PlanState, name: string, why: string): Promise<void> {
  if (s.loaded.has(name) || s.loadErrors.has(name)) return;
  s.req.debug?.(`import ${name}: ${why}`);
  const r = await loadAppliance(s.p.appliancesDir, name, s.req.env);
  const { gateErrors, loadDiagnostic } = await import('../validate/gate.ts');
  if (!r.ok) return void s.loadErrors.set(name, { message: r.message, file: r.file, diagnostics: [loadDiagnostic(r)] });
  const refused = await gateErrors(r.appliance, r.variants);
  if (refused.length) return void s.loadErrors.set(name, { message: refused[0].message, file: r.appliance.module, diagnostics: refused });
  s.loaded.set(name, r.appliance);
  s.meta.set(name, metaOf(r.appliance));
}

/** Learns the metadata of appliances: from a record whose modules are unchanged, else by import. */
async function known(s: PlanState, wanted: Iterable<string>): Promise<void> {
  const moduleInputsUnchanged = (r: TargetRecord) => Object.entries(r.inputs).every(([rel, st]) => st.kind === 'file' || s.cache.unchanged(rel, st));
  const toLoad: string[] = [];
  for (const n of wanted) {
    if (s.meta.has(n) || s.loadErrors.has(n)) continue;
    const fast = (s.byName.get(n) ?? []).find(moduleInputsUnchanged);
    if (fast) s.meta.set(n, fast.appliance);
    else toLoad.push(n);
  }
  await Promise.all(toLoad.map((n) => load(s, n, s.byName.has(n) ? 'its modules changed' : 'no record yet')));
}

/** The `name:arch` targets the specs ask for; appliances that do not load become error plans. */
function resolveWanted(s: PlanState, specs: Array<{ name: string; arch?: Arch }>): { wanted: Map<string, { name: string; arch: Arch }>; errors: TargetPlan[] } {
  const host = hostArch();
  const wanted = new Map<string, { name: string; arch: Arch }>();
  const errors: TargetPlan[] = [];
  const add = (name: string, arch: Arch) => wanted.set(`${name}:${arch}`, { name, arch });
  for (const sp of specs.length ? specs : s.names.map((name) => ({ name, arch: undefined as Arch | undefined }))) {
    const m = s.meta.get(sp.name);
    if (!m) {
      const e = s.loadErrors.get(sp.name)!;
      const arch = sp.arch ?? host;
      errors.push({ target: `${sp.name}:${arch}`, name: sp.name, arch, status: 'error', reasons: [], error: e.message, errorFile: e.file, diagnostics: e.diagnostics });
      continue;
    }
    if (sp.arch) {
      if (!m.architectures.includes(sp.arch)) throw new UserError(`target ${sp.name}:${sp.arch}: ${sp.name} does not declare ${sp.arch} (declares: ${m.architectures.join(', ')})`);
      add(sp.name, sp.arch);
    } else if (s.req.allArch) {
      for (const a of m.architectures) add(sp.name, a);
    } else if (m.architectures.includes(host)) {
      add(sp.name, host);
    } else if (specs.length) {
      throw new UserError(`target ${sp.name}: ${sp.name} does not declare the host architecture ${host} (declares: ${m.architectures.join(', ')}); name one, e.g. ${sp.name}:${m.architectures[0]}`);
    }
  }
  return { wanted, errors };
}

/** True when the record alone proves the target fresh (nothing imported, nothing hashed). */
function fastFresh(s: PlanState, rec: TargetRecord | undefined): boolean {
  return !!rec
    && rec.builder === IMAGE_LOGIC_VERSION
    && rec.distrobuilder === s.tc.version
    && canonicalJson(rec.options) === canonicalJson(s.options)
    && canonicalJson(rec.context) === canonicalJson(s.context)
    && Object.entries(rec.inputs).every(([rel, st]) => s.cache.unchanged(rel, st))
    && !outputsProblem(s.p, rec);
}

/** Splits the wanted targets into fresh ones (fast path) and ones to import and compile. */
function fastPath(s: PlanState, wanted: Map<string, { name: string; arch: Arch }>): { results: TargetPlan[]; slow: TargetPlan[] } {
  const results: TargetPlan[] = [];
  const slow: TargetPlan[] = [];
  for (const [target, { name, arch }] of wanted) {
    const rec = s.records.get(target);
    const tp: TargetPlan = { target, name, arch, status: 'fresh', reasons: [], record: rec };
    results.push(tp);
    const extra: string[] = [];
    if (s.req.force) extra.push('forced');
    const chain = rec ? chainProblem(rec, s.nodeRecords, s.req, s.nowMs) : undefined;
    if (chain) extra.push(chain);
    if (fastFresh(s, rec) && extra.length === 0) continue;
    if (rec) s.req.debug?.(`${target}: slow path (${extra.length ? extra.join('; ') : 'an input, the toolchain, the options, the context or the outputs differ from the record'})`);
    tp.reasons = extra;
    slow.push(tp);
  }
  return { results, slow };
}

/** The key inputs of a compiled target: shipped files, its modules, the compiler's modules. */
function keyInputs(s: PlanState, c: CompiledTarget, graph: string[], compilerGraph: string[]): Array<{ rel: string; kind: InputKind }> {
  const inputs: Array<{ rel: string; kind: InputKind }> = [];
  const seen = new Set<string>();
  const push = (rel: string, kind: InputKind) => {
    if (!seen.has(rel)) {
      seen.add(rel);
      inputs.push({ rel, kind });
    }
  };
  for (const f of c.inputFiles) push(relative(s.p.root, f), 'file');
  for (const m of graph) push(m, 'module');
  for (const m of compilerGraph) push(m, 'tool');
  for (const t of TOOL_PACKAGES) push(t, 'tool');
  return inputs;
}

/** The target key: toolchain, options, the image layer's YAML, every layer's definition, shipped files. */
async function targetKey(s: PlanState, app: Appliance, arch: Arch, c: CompiledTarget, contents: Map<string, Buffer>, fp: Record<string, InputStat>): Promise<{ key: TargetKey; hash: Hash }> {
  const { keyDefinition, makeKey } = await import('./key.ts');
  const { hashBytes } = await import('./hash.ts');
  const { toYaml } = await import('../compile/yaml.ts');
  const files: Record<string, Hash> = {};
  const fromFiles = new Map<string, { label: string; content: string }>();
  const dest = new Map([...c.shipped].map(([d, abs]) => [abs, d]));
  for (const abs of c.inputFiles) {
    const label = relative(app.dir, abs);
    const buf = contents.get(abs);
    files[label] = fp[relative(s.p.root, abs)]?.hash ?? (buf ? await hashBytes(buf) : ('' as Hash));
    const d = dest.get(abs);
    if (d && buf) fromFiles.set(d, { label, content: buf.toString('utf8') });
  }
  const none = new Map<string, { label: string; content: string }>();
  return makeKey({
    builder: IMAGE_LOGIC_VERSION,
    arch,
    distrobuilder: s.tc.version,
    options: s.options,
    yaml: await hashBytes(toYaml(c.layers.image)),
    definition: {
      base: await keyDefinition(c.layers.base, none),
      packages: c.layers.packages ? await keyDefinition(c.layers.packages, none) : undefined,
      image: await keyDefinition(c.layers.image, fromFiles),
    },
    files,
  });
}

/** Compiles one slow-path target, keys it and compares with its record. */
async function planSlow(s: PlanState, tp: TargetPlan, graph: string[] | { error: string } | undefined, compilerGraph: string[]): Promise<void> {
  const app = s.loaded.get(tp.name);
  if (!app) {
    const e = s.loadErrors.get(tp.name)!;
    Object.assign(tp, { status: 'error', error: e.message, errorFile: e.file, diagnostics: e.diagnostics });
    return;
  }
  if (!graph || !Array.isArray(graph)) {
    Object.assign(tp, { status: 'error', error: `cannot list its imports: ${graph && !Array.isArray(graph) ? graph.error : 'unknown error'}`, errorFile: app.module });
    return;
  }
  const { compile, CompileError } = await import('../compile/compile.ts');
  const contents = new Map<string, Buffer>();
  let c: CompiledTarget;
  try {
    c = compile(app, tp.arch, s.context as never, (abs) => {
      const b = readFileSync(abs);
      contents.set(abs, b);
      return b;
    });
  } catch (e) {
    if (!(e instanceof CompileError)) throw e;
    Object.assign(tp, { status: 'error', error: `${e.message}${e.field ? ` (field ${e.field})` : ''}`, errorFile: e.file });
    return;
  }
  const fp = await s.cache.fingerprints(keyInputs(s, c, graph, compilerGraph));
  const { key, hash } = await targetKey(s, app, tp.arch, c, contents, fp);
  const { specFieldHashes } = await import('./key.ts');
  const { toYaml } = await import('../compile/yaml.ts');
  const fields = await specFieldHashes(app);
  tp.compiled = { yaml: toYaml(c.layers.image), distroArch: c.distroArch, key, hash, keyFile: { hash, key, fields }, inputs: fp, meta: metaOf(app), layers: c.layers };
  const why = await keyReasons(s, tp, { key, fields, inputs: fp, context: s.context }, `${c.layers.baseId}:${tp.arch}`);
  // A node whose key changed is named by the key's own reasons already.
  const extra = why.length ? tp.reasons.filter((r) => !/^(base \S+|packages layer) changed$/.test(r)) : tp.reasons;
  tp.reasons = [...why, ...extra];
  tp.status = tp.reasons.length ? 'stale' : 'fresh';
  if (tp.status === 'fresh') tp.refresh = true;
}

/** Why the key (or the outputs) of a compiled target call for a rebuild; empty when they do not. */
async function keyReasons(s: PlanState, tp: TargetPlan, now: { key: TargetKey; fields: Record<string, Hash>; inputs: Record<string, InputStat>; context: Record<string, string> }, baseNode: string): Promise<string[]> {
  const rec = tp.record;
  if (!rec) return [s.bad.some((b) => b.target === tp.target) ? 'record unreadable (corrupt or foreign): rebuilding from scratch' : 'new target'];
  const was = rec.chain?.[0]?.node;
  // Moved to another base (another release, or another distribution): that says it all.
  if (rec.hash !== tp.compiled!.hash && was && was !== `base/${baseNode}`) return [`base ${was.slice(5)} -> ${baseNode}`];
  if (rec.hash !== tp.compiled!.hash) {
    const { explainKeyChange } = await import('./key.ts');
    return explainKeyChange(tp.name, { record: rec, key: readKeyFile(s.p, tp.target, rec.hash) }, now, baseNode);
  }
  const o = outputsProblem(s.p, rec);
  return o ? [o] : [];
}

/** Slow path: import, compile, key, compare. */
async function slowPath(s: PlanState, slow: TargetPlan[]): Promise<void> {
  const apps = [...new Set(slow.map((t) => t.name))];
  await Promise.all(apps.map((n) => load(s, n, 'to compile')));
  const ok = apps.filter((n) => s.loaded.has(n));
  const compilerRel = relative(s.p.root, COMPILER);
  const graphs = await moduleGraphs(s.p.root, [compilerRel, ...ok.map((n) => relative(s.p.root, s.loaded.get(n)!.module))]);
  const cg = graphs.get(compilerRel);
  const compilerGraph = Array.isArray(cg) ? cg : [compilerRel];
  await Promise.all(slow.map((tp) => {
    const app = s.loaded.get(tp.name);
    return planSlow(s, tp, app ? graphs.get(relative(s.p.root, app.module)) : undefined, compilerGraph);
  }));
}

/** Recorded targets whose appliance or architecture is gone. */
function deadTargets(s: PlanState): DeadTarget[] {
  const dead: DeadTarget[] = [];
  const nameSet = new Set(s.names);
  const recorded = new Set([...s.records.keys(), ...s.bad.map((b) => b.target).filter((t): t is string => !!t)]);
  for (const t of [...recorded].sort()) {
    const i = t.lastIndexOf(':');
    const name = t.slice(0, i);
    const arch = t.slice(i + 1) as Arch;
    if (!nameSet.has(name)) dead.push({ target: t, reason: `appliance ${name} deleted` });
    else if (s.meta.has(name) && !s.meta.get(name)!.architectures.includes(arch)) dead.push({ target: t, reason: `architecture ${arch} dropped by ${name}` });
  }
  return dead;
}

/**
 * Throws a {@link UserError} with the located diagnostics of every target in `targets` whose
 * appliance does not load, is refused by the gate or does not compile: nothing is built.
 */
function refuseBroken(targets: TargetPlan[]): void {
  const broken = targets.filter((t) => t.status === 'error');
  if (!broken.length) return;
  const diags = new Map<string, Diagnostic>();
  for (const t of broken) {
    for (const d of t.diagnostics ?? [{ file: t.errorFile ?? t.target, message: `${t.target}: ${t.error}`, severity: 'error' as const }]) {
      diags.set(`${d.file}:${d.line}:${d.column}:${d.message}`, d);
    }
  }
  const names = [...new Set(broken.map((t) => t.name))];
  throw new UserError(`refused ${names.join(', ')}: nothing built (\`npx tsx build.ts validate ${names.join(' ')}\` checks more)`, [...diags.values()]);
}

/** Plans a build (or a dry run). Throws a UserError for unknown targets and refused appliances. */
export async function plan(req: PlanRequest): Promise<Plan> {
  const s = startPlanning(req);
  const nameSet = new Set(s.names);
  const specs = req.specs.map(parseTargetSpec);
  for (const sp of specs) if (!nameSet.has(sp.name)) throw new UnknownApplianceError(sp.name, s.names);
  const requested = specs.length ? new Set(specs.map((sp) => sp.name)) : nameSet;
  // Which appliances we need to know: the requested ones, and those with records (dead targets).
  await known(s, new Set([...requested, ...[...s.byName.keys()].filter((n) => nameSet.has(n))]));
  const { wanted, errors } = resolveWanted(s, specs);
  // The gate: a requested appliance that does not load or is refused stops here, before
  // anything is written (the toolchain cache included).
  refuseBroken(errors);
  s.tc = req.toolchain ?? toolchain(s.p, req.env);
  const { results, slow } = fastPath(s, wanted);
  if (slow.length) await slowPath(s, slow);
  refuseBroken(results);
  const targets = [...results, ...errors].sort((a, b) => a.target.localeCompare(b.target));
  const bases = await planNodes({ paths: s.p, targets, nodeRecords: s.nodeRecords, toolchain: s.tc, context: s.context, force: !!req.force, maxAgeMs: req.maxAgeMs, maxAgeText: req.maxAgeText, nowMs: s.nowMs, treeHome: req.treeHome });
  return {
    targets,
    bases,
    dead: deadTargets(s),
    toolchain: s.tc,
    context: s.context,
    records: s.records,
    async liveTargets() {
      await known(s, s.names);
      if (s.names.some((n) => !s.meta.has(n))) return undefined;
      const live = new Set<string>();
      for (const n of s.names) for (const a of s.meta.get(n)!.architectures) live.add(`${n}:${a}`);
      return live;
    },
  };
}

