/**
 * Planning: which targets are fresh, which are stale and why, which no longer exist.
 *
 * Fast path (a no-op costs a directory listing, the record files and stat() calls): a target
 * is fresh without importing or compiling anything when its record's inputs (appliance module,
 * the modules it imports, the compiler's modules, shipped files) all have the recorded
 * (size, mtime, inode), the toolchain, options and host context are unchanged and the outputs
 * are intact. Otherwise the appliance is imported and compiled, the new key is compared with the
 * recorded one, and the differences become the reasons. A target whose key did not change (a
 * comment or formatting edit) stays fresh; only its record is refreshed.
 *
 * Planning only reads (besides the toolchain cache), so `--dry-run` needs no lock.
 * @module
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import type { Appliance, Arch } from '../model.ts';
import { hostArch } from '../arch.ts';
import { buildContext, type ContextOptions } from '../context.ts';
import { UserError } from '../diagnostics.ts';
import { discoverAppliances, loadAppliance } from '../load.ts';
import { parseTargetSpec } from '../targets.ts';
import { canonicalJson, type Hash } from './hash.ts';
import { InputCache, moduleGraphs } from './inputs.ts';
import { BUILDER_VERSION, type BuildOptions } from './options.ts';
import { formatDuration } from './fsutil.ts';
import { outDir, type BuildPaths } from './paths.ts';
import { readKeyFile, readRecords, type ApplianceMeta, type BadRecord, type BuildKey, type InputKind, type InputStat, type KeyFile, type TargetRecord } from './record.ts';
import { toolchain, type Toolchain } from './toolchain.ts';

/** What to plan. */
export interface PlanRequest {
  paths: BuildPaths;
  /** Command-line targets (`name`, `name:arch`); empty = every appliance. */
  specs: string[];
  /** Every declared architecture instead of the host's. */
  allArch?: boolean;
  /** Rebuild the requested targets whatever their state. */
  force?: boolean;
  /** Rebuild targets built longer ago than this (ms); `maxAgeText` is how the user wrote it. */
  maxAgeMs?: number;
  maxAgeText?: string;
  options: BuildOptions;
  env: NodeJS.ProcessEnv;
  context?: ContextOptions;
  /** Clock (ms), injectable for tests. */
  now?: () => number;
  /** Prints a warning. */
  warn: (message: string) => void;
  /** Traces the decisions (which appliances are imported and why), for `APPLIANCE_BUILD_DEBUG`. */
  debug?: (message: string) => void;
}

/** What compiling a target gave: everything needed to build it and record it. */
export interface Compiled {
  yaml: string;
  distroArch: string;
  key: BuildKey;
  hash: Hash;
  keyFile: KeyFile;
  inputs: Record<string, InputStat>;
  meta: ApplianceMeta;
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
}

/** A recorded target whose appliance or architecture no longer exists. */
export interface DeadTarget {
  target: string;
  reason: string;
}

/** The whole plan. */
export interface Plan {
  targets: TargetPlan[];
  dead: DeadTarget[];
  toolchain: Toolchain;
  context: Record<string, string>;
  /** Records as read when planning (to notice another build changing them). */
  records: Map<string, TargetRecord>;
  bad: BadRecord[];
  /** Appliance metadata known after planning, by name. */
  meta: Map<string, ApplianceMeta>;
  /** Every appliance name found. */
  names: string[];
  /**
   * Every live target (`name:arch` for every declared architecture of every appliance), or
   * undefined when an appliance does not load (its architectures are unknown).
   */
  liveTargets(): Promise<Set<string> | undefined>;
}

/** The project's own compiler module, whose module graph is an input of every target. */
const COMPILER = fileURLToPath(new URL('../compile.ts', import.meta.url));
/** Installed packages whose version changes the compiled YAML. */
const TOOL_PACKAGES = ['node_modules/yaml/package.json'];

function metaOf(app: Appliance): ApplianceMeta {
  return {
    name: app.name,
    version: app.version,
    description: app.description,
    architectures: [...app.architectures],
    base: { name: app.base.name, release: app.base.release, title: app.base.title },
  };
}

/** True when every recorded output file of `rec` is still there with the recorded size and mtime. */
function outputsProblem(p: BuildPaths, rec: TargetRecord): string | undefined {
  const names = Object.keys(rec.outputs);
  if (names.length === 0) return 'output missing';
  for (const n of names) {
    const s = statSync(join(outDir(p, rec.target), n), { throwIfNoEntry: false });
    if (!s) return 'output missing';
    if (s.size !== rec.outputs[n].size || s.mtimeMs !== rec.outputs[n].mtimeMs) return `output ${n} modified`;
  }
  return undefined;
}

/** Plans a build (or a dry run). Throws a UserError for unknown targets. */
export async function plan(req: PlanRequest): Promise<Plan> {
  const p = req.paths;
  const now = req.now ?? Date.now;
  const names = discoverAppliances(p.appliancesDir);
  const nameSet = new Set(names);
  const { records, bad } = readRecords(p);
  for (const b of bad) req.warn(`${relative(p.root, b.file)}: ${b.problem}; ignoring this record${b.target ? ` (${b.target} is rebuilt from scratch)` : ''}`);
  const tc = toolchain(p, req.env);
  const bctx = buildContext(req.context ?? {}, req.env);
  const context: Record<string, string> = { ...bctx };
  const options: Record<string, string> = { ...req.options };
  const cache = new InputCache(p.root);
  cache.learn(records.values());
  const compilerRel = relative(p.root, COMPILER);

  // Which appliances we need to know: the requested ones, and those with records (dead targets).
  const specs = req.specs.map(parseTargetSpec);
  for (const s of specs) if (!nameSet.has(s.name)) throw new UserError(`unknown appliance "${s.name}"; appliances: ${names.join(', ') || '(none)'}`);
  const requested = specs.length ? new Set(specs.map((s) => s.name)) : nameSet;
  const byName = new Map<string, TargetRecord[]>();
  for (const r of records.values()) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);

  const meta = new Map<string, ApplianceMeta>();
  const loaded = new Map<string, Appliance>();
  const loadErrors = new Map<string, { message: string; file: string }>();
  const moduleInputsUnchanged = (r: TargetRecord) => Object.entries(r.inputs).every(([rel, s]) => s.kind === 'file' || cache.unchanged(rel, s));
  const load = async (name: string, why: string) => {
    if (loaded.has(name) || loadErrors.has(name)) return;
    req.debug?.(`import ${name}: ${why}`);
    const r = await loadAppliance(p.appliancesDir, name);
    if (r.ok) {
      loaded.set(name, r.appliance);
      meta.set(name, metaOf(r.appliance));
    } else loadErrors.set(name, { message: r.message, file: r.file });
  };
  const known = async (wanted: Iterable<string>) => {
    const toLoad: string[] = [];
    for (const n of wanted) {
      if (meta.has(n) || loadErrors.has(n)) continue;
      // Unchanged modules: the recorded architectures and metadata are current.
      const fast = (byName.get(n) ?? []).find(moduleInputsUnchanged);
      if (fast) meta.set(n, fast.appliance);
      else toLoad.push(n);
    }
    await Promise.all(toLoad.map((n) => load(n, byName.has(n) ? 'its modules changed' : 'no record yet')));
  };
  await known(new Set([...requested, ...[...byName.keys()].filter((n) => nameSet.has(n))]));

  // Resolve the targets.
  const host = hostArch();
  const wanted = new Map<string, { name: string; arch: Arch }>();
  const errors: TargetPlan[] = [];
  const add = (name: string, arch: Arch) => wanted.set(`${name}:${arch}`, { name, arch });
  for (const s of specs.length ? specs : names.map((name) => ({ name, arch: undefined as Arch | undefined }))) {
    const m = meta.get(s.name);
    if (!m) {
      const e = loadErrors.get(s.name)!;
      const arch = s.arch ?? host;
      errors.push({ target: `${s.name}:${arch}`, name: s.name, arch, status: 'error', reasons: [], error: e.message, errorFile: e.file });
      continue;
    }
    if (s.arch) {
      if (!m.architectures.includes(s.arch)) throw new UserError(`target ${s.name}:${s.arch}: ${s.name} does not declare ${s.arch} (declares: ${m.architectures.join(', ')})`);
      add(s.name, s.arch);
    } else if (req.allArch) {
      for (const a of m.architectures) add(s.name, a);
    } else if (m.architectures.includes(host)) {
      add(s.name, host);
    } else if (specs.length) {
      throw new UserError(`target ${s.name}: ${s.name} does not declare the host architecture ${host} (declares: ${m.architectures.join(', ')}); name one, e.g. ${s.name}:${m.architectures[0]}`);
    }
  }

  // Fast path per target.
  const results: TargetPlan[] = [];
  const slow: TargetPlan[] = [];
  const nowMs = now();
  for (const [target, { name, arch }] of wanted) {
    const rec = records.get(target);
    const tp: TargetPlan = { target, name, arch, status: 'fresh', reasons: [], record: rec };
    results.push(tp);
    const extra: string[] = [];
    if (req.force) extra.push('forced');
    if (rec && req.maxAgeMs !== undefined) {
      const age = nowMs - Date.parse(rec.builtAt);
      if (!(age <= req.maxAgeMs)) extra.push(`older than --max-age ${req.maxAgeText ?? formatDuration(req.maxAgeMs)} (built ${formatDuration(age)} ago)`);
    }
    const fast = rec
      && rec.builder === BUILDER_VERSION
      && rec.distrobuilder === tc.version
      && canonicalJson(rec.options) === canonicalJson(options)
      && canonicalJson(rec.context) === canonicalJson(context)
      && Object.entries(rec.inputs).every(([rel, s]) => cache.unchanged(rel, s))
      && !outputsProblem(p, rec);
    if (fast && extra.length === 0) continue;
    if (rec) req.debug?.(`${target}: slow path (${extra.length ? extra.join('; ') : 'an input, the toolchain, the options, the context or the outputs differ from the record'})`);
    tp.reasons = extra;
    slow.push(tp);
  }

  // Slow path: import, compile, key, compare.
  if (slow.length) {
    const apps = [...new Set(slow.map((t) => t.name))];
    await Promise.all(apps.map((n) => load(n, 'to compile')));
    const ok = apps.filter((n) => loaded.has(n));
    const graphs = await moduleGraphs(p.root, [compilerRel, ...ok.map((n) => relative(p.root, loaded.get(n)!.module))]);
    const { compile, CompileError } = await import('../compile.ts');
    const { explainKeyChange, keyDefinition, makeKey, specFieldHashes } = await import('./key.ts');
    const { hashBytes } = await import('./hash.ts');
    const compilerGraph = graphs.get(compilerRel);
    await Promise.all(slow.map(async (tp) => {
      const app = loaded.get(tp.name);
      if (!app) {
        const e = loadErrors.get(tp.name)!;
        Object.assign(tp, { status: 'error', error: e.message, errorFile: e.file });
        return;
      }
      const graph = graphs.get(relative(p.root, app.module));
      if (!graph || !Array.isArray(graph)) {
        Object.assign(tp, { status: 'error', error: `cannot list its imports: ${graph && !Array.isArray(graph) ? graph.error : 'unknown error'}`, errorFile: app.module });
        return;
      }
      const contents = new Map<string, Buffer>();
      let c;
      try {
        c = compile(app, tp.arch, bctx, (abs) => {
          const b = readFileSync(abs);
          contents.set(abs, b);
          return b;
        });
      } catch (e) {
        if (!(e instanceof CompileError)) throw e;
        Object.assign(tp, { status: 'error', error: `${e.message}${e.field ? ` (field ${e.field})` : ''}`, errorFile: e.file });
        return;
      }
      const inputs: Array<{ rel: string; kind: InputKind }> = [];
      const seen = new Set<string>();
      const push = (rel: string, kind: InputKind) => {
        if (!seen.has(rel)) {
          seen.add(rel);
          inputs.push({ rel, kind });
        }
      };
      for (const f of c.inputFiles) push(relative(p.root, f), 'file');
      for (const m of graph) push(m, 'module');
      for (const m of Array.isArray(compilerGraph) ? compilerGraph : [compilerRel]) push(m, 'tool');
      for (const t of TOOL_PACKAGES) push(t, 'tool');
      const fp = await cache.fingerprints(inputs);
      // Shipped files: label -> hash, and destination path -> content (for the key's definition).
      const files: Record<string, Hash> = {};
      const fromFiles = new Map<string, { label: string; content: string }>();
      const dest = new Map<string, string>((app.files ?? []).map((f) => [join(app.dir, 'files', f.source), f.path]));
      if (app.configure) dest.set(join(app.dir, 'files', app.configure), '/usr/local/lib/appliance/configure');
      for (const abs of c.inputFiles) {
        const label = relative(app.dir, abs);
        const buf = contents.get(abs);
        files[label] = fp[relative(p.root, abs)]?.hash ?? (buf ? await hashBytes(buf) : ('' as Hash));
        const d = dest.get(abs);
        if (d && buf) fromFiles.set(d, { label, content: buf.toString('utf8') });
      }
      const { key, hash } = await makeKey({
        builder: BUILDER_VERSION,
        arch: tp.arch,
        distrobuilder: tc.version,
        options,
        yaml: await hashBytes(c.yaml),
        definition: await keyDefinition(c.definition, fromFiles),
        files,
      });
      const fields = await specFieldHashes(app);
      tp.compiled = { yaml: c.yaml, distroArch: c.distroArch, key, hash, keyFile: { hash, key, fields }, inputs: fp, meta: metaOf(app) };
      const rec = tp.record;
      const why: string[] = [];
      if (!rec) {
        why.push(bad.some((b) => b.target === tp.target) ? 'record unreadable (corrupt or foreign): rebuilding from scratch' : 'new target');
      } else if (rec.hash !== hash) {
        why.push(...explainKeyChange(tp.name, { record: rec, key: readKeyFile(p, tp.target, rec.hash) }, { key, fields, inputs: fp, context }));
      } else {
        const o = outputsProblem(p, rec);
        if (o) why.push(o);
      }
      tp.reasons = [...why, ...tp.reasons];
      tp.status = tp.reasons.length ? 'stale' : 'fresh';
      if (tp.status === 'fresh') tp.refresh = true;
    }));
  }

  // Dead targets: recorded, but the appliance or the architecture is gone.
  const dead: DeadTarget[] = [];
  const recorded = new Set([...records.keys(), ...bad.map((b) => b.target).filter((t): t is string => !!t)]);
  for (const t of [...recorded].sort()) {
    const i = t.lastIndexOf(':');
    const name = t.slice(0, i);
    const arch = t.slice(i + 1) as Arch;
    if (!nameSet.has(name)) dead.push({ target: t, reason: `appliance ${name} deleted` });
    else if (meta.has(name) && !meta.get(name)!.architectures.includes(arch)) dead.push({ target: t, reason: `architecture ${arch} dropped by ${name}` });
  }

  const order = (a: TargetPlan, b: TargetPlan) => a.target.localeCompare(b.target);
  return {
    targets: [...results, ...errors].sort(order),
    dead,
    toolchain: tc,
    context,
    records,
    bad,
    meta,
    names,
    async liveTargets() {
      await known(names);
      if (names.some((n) => !meta.has(n))) return undefined;
      const live = new Set<string>();
      for (const n of names) for (const a of meta.get(n)!.architectures) live.add(`${n}:${a}`);
      return live;
    },
  };
}
