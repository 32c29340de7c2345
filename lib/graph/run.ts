/**
 * A run of the build graph: plan (fresh/stale/dead, with reasons; which base and packages nodes run),
 * take the lock, run the nodes as a DAG in a p-queue pool (a base once for all its appliances,
 * packages layers and image packs on top), remove dead targets, hand the new images to the
 * registry.
 *
 * Other verbs use {@link runGraph}: "build these targets if stale and give me the outputs".
 * @example
 * const report = await runGraph({ root, specs: ['nginx:amd64'], logger: new PlainLogger(sinks) });
 * const nginx = report.targets.find((t) => t.target === 'nginx:amd64');
 * if (nginx?.outputs) launch(nginx.outputs.metadata, nginx.outputs.rootfs);
 * @module
 */
import { DEFAULT_OPTIONS, defaultJobs, type ImageOptions } from './options.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ContextOptions } from '../compile/context.ts';
import type { BuiltImage, IndexOptions } from '../registry/api.ts';
import type { RunEvent, Logger } from './events.ts';
import { safeRemove } from './fsutil.ts';
import { formatDuration, parseDuration } from '../format.ts';
import type { HeldLock } from './lock.ts';
import { localExecutor, type Executor } from './executor.ts';
import type { Toolchain } from './toolchain.ts';
import type { RegistryStage } from './reindex.ts';
import { logFile, outDir, projectPaths, type ProjectPaths } from './paths.ts';
import { plan, type DeadTarget, type Plan, type TargetPlan } from './plan.ts';
import { readRecords, removeRecord, type TargetRecord } from './record.ts';
import { UserError } from '../diagnostics.ts';
import { targetNodePaths } from './gc.ts';
import { indexedFingerprints } from '../registry/fingerprints.ts';
import type { CacheSettings } from '../cache/stage.ts';

/** What to build. */
export interface RunRequest {
  /** Project root. */
  root: string;
  /** Targets (`name`, `name:arch`); empty = every appliance for the host architecture. */
  specs: string[];
  /** Every declared architecture. */
  allArch?: boolean;
  /** Rebuild the named targets' own layers (packages, image) even when fresh. */
  force?: boolean;
  /** Rebuild base nodes (and so everything on them) built longer ago than this, e.g. `7d`. */
  maxAge?: string;
  /** Build nothing; report fresh/stale with reasons. */
  dryRun?: boolean;
  /** Tree builds (build-dir) at once, and as many packs (pack-incus). @default half the CPUs (1..4) */
  jobs?: number;
  /** Stop starting builds after the first failure. */
  failFast?: boolean;
  /** Run the registry stage (add the new images, drop dead targets). @default true */
  index?: boolean;
  /** Wait for another build holding the lock. @default true */
  wait?: boolean;
  /** Registry folder. @default `<root>/registry` */
  registryDir?: string;
  options?: Partial<ImageOptions>;
  env?: NodeJS.ProcessEnv;
  context?: ContextOptions;
  logger: Logger;
  /** Aborted on Ctrl-C: running builds are stopped, their folders removed, nothing recorded. */
  signal?: AbortSignal;
  /** Where distrobuilder runs. @default this host ({@link localExecutor}) */
  executor?: Executor;
  /**
   * The distrobuilder the executor runs (part of every key), when it is not this host's: a
   * builder's (lib/builder/). @default this host's `$DISTROBUILDER` or `distrobuilder`
   */
  toolchain?: Toolchain;
  /** A remote cache: nodes are looked up before they build, uploaded after (lib/cache/). */
  cache?: CacheSettings;
}

/** The outcome of one target, or of one base node (`base/<id>:<arch>`). */
export interface TargetReport {
  target: string;
  status: 'fresh' | 'stale' | 'built' | 'failed' | 'skipped' | 'error';
  reasons: string[];
  /** Stale appliance targets: which of their own layers run (`packages`, `image`). */
  layers?: string[];
  /** For `failed`, `skipped` and `error`. */
  message?: string;
  ms?: number;
  /** Log file (relative to the root) of a build that ran. */
  log?: string;
  /** Installed from the remote cache rather than built (status `built`). */
  cached?: boolean;
  /** Output files of a target that is built (now or before), absolute paths. */
  outputs?: { dir: string; metadata: string; rootfs?: string };
}

/** The outcome of a run. */
export interface RunReport {
  /** Base nodes first, then the appliance targets. */
  targets: TargetReport[];
  dead: DeadTarget[];
  /** 0, 1 when a target failed or errored, 130 when interrupted. */
  exitCode: number;
  ms: number;
}


/** The output files of a recorded target. */
export function outputsOf(p: ProjectPaths, rec: TargetRecord): TargetReport['outputs'] {
  const dir = outDir(p, rec.target);
  const meta = Object.keys(rec.outputs).find((n) => /^incus\.tar(\.[a-z0-9]+)?$/.test(n));
  if (!meta) return undefined;
  return { dir, metadata: join(dir, meta), rootfs: rec.outputs['rootfs.squashfs'] ? join(dir, 'rootfs.squashfs') : undefined };
}

function recordsChanged(before: Map<string, TargetRecord>, p: ProjectPaths): boolean {
  const now = readRecords(p).records;
  if (now.size !== before.size) return true;
  for (const [t, r] of now) {
    const b = before.get(t);
    if (!b || b.hash !== r.hash || b.builtAt !== r.builtAt || b.indexed !== r.indexed) return true;
  }
  return false;
}

/** The initial report of every planned target and base node. */
function initialReports(p: ProjectPaths, pl: Plan): Map<string, TargetReport> {
  const reports = new Map<string, TargetReport>();
  for (const b of pl.bases) reports.set(b.node, { target: b.node, status: b.status, reasons: b.reasons });
  for (const t of pl.targets) {
    const r: TargetReport = { target: t.target, status: t.status, reasons: t.reasons, ...(t.layers ? { layers: t.layers } : {}), ...(t.error ? { message: t.error } : {}) };
    if (t.status === 'fresh' && t.record) r.outputs = outputsOf(p, t.record);
    reports.set(t.target, r);
  }
  return reports;
}

/** Announces the plan: stale targets with reasons and layers, errors, fresh ones (if few). */
function announce(p: ProjectPaths, pl: Plan, emit: (e: RunEvent) => void): void {
  // A big catalogue: fresh targets only count in the summary (one line each would drown the rest).
  const quietFresh = pl.targets.length > 20;
  for (const b of pl.bases) if (b.status === 'stale') emit({ type: 'stale', target: b.node, reasons: b.reasons });
  for (const t of pl.targets) {
    if (t.status === 'stale') emit({ type: 'stale', target: t.target, reasons: t.reasons, layers: t.layers });
    else if (t.status === 'error') emit({ type: 'error', target: t.target, message: `${t.errorFile ? `${relative(p.root, t.errorFile)}: ` : ''}${t.error}` });
    else if (!quietFresh) emit({ type: 'fresh', target: t.target });
  }
}

/** Removes the outputs, records and logs of dead targets. */
function removeDead(p: ProjectPaths, dead: DeadTarget[], emit: (e: RunEvent) => void): void {
  for (const d of dead) {
    const removed: string[] = [];
    // Its packages layer goes with it (the base stays for the others: `clean --unused`).
    for (const f of [outDir(p, d.target), logFile(p, d.target), ...targetNodePaths(p, d.target)]) {
      if (!existsSync(f)) continue;
      const r = safeRemove(f);
      if (r.removed) removed.push(relative(p.root, f));
      else emit({ type: 'warning', message: `${relative(p.root, f)}: ${r.problem}` });
    }
    removed.push(...removeRecord(p, d.target).map((f) => relative(p.root, f)));
    emit({ type: 'dead', target: d.target, reason: d.reason, removed });
  }
}

/** What a run shares while it builds. */
interface Run {
  req: RunRequest;
  p: ProjectPaths;
  options: ImageOptions;
  env: NodeJS.ProcessEnv;
  emit: (e: RunEvent) => void;
  signal: AbortSignal;
  reports: Map<string, TargetReport>;
}

/** Builds the stale nodes and targets of `pl`; returns the records of the targets built. */
async function runPlan(run: Run, pl: Plan): Promise<TargetRecord[]> {
  const { default: PQueue } = await import('p-queue');
  const { Scheduler } = await import('./schedule.ts');
  const { refreshRecord } = await import('./image-node.ts');
  const p = run.p;
  const jobs = Math.max(1, run.req.jobs ?? defaultJobs());
  const trees = new PQueue({ concurrency: jobs });
  const packs = new PQueue({ concurrency: jobs });
  const executor = run.req.executor ?? localExecutor;
  // A writable remote cache uploads every tree built: those need their bytes here.
  const leaveTrees = !(run.req.cache && !run.req.cache.readOnly);
  const rc = { paths: p, toolchain: pl.toolchain, options: { ...run.options }, context: pl.context, env: run.env, emit: (e: RunEvent) => onNodeEvent(run, e), signal: run.signal, executor, leaveTrees };
  const cache = await openCache(run, rc);
  const sched = new Scheduler(trees, packs, rc, !!run.req.failFast, cache);
  removeDead(p, pl.dead, run.emit);
  // Fresh targets whose inputs were touched without changing the key: refresh the record.
  for (const t of pl.targets) {
    if (t.status !== 'fresh' || !t.refresh) continue;
    const r = refreshRecord(p, t, pl.context);
    if (r) t.record = r;
  }
  const built: TargetRecord[] = [];
  await Promise.all(pl.targets.filter((t) => t.status === 'stale').map(async (t) => {
    const rep = run.reports.get(t.target)!;
    const r = await sched.image(t);
    if (r.skipped) {
      const skipped = r.message === 'interrupted' || /--fail-fast/.test(r.message ?? '');
      Object.assign(rep, { status: skipped ? 'skipped' : 'failed', message: r.message });
      run.emit(skipped ? { type: 'skipped', target: t.target, reason: r.message ?? '' } : { type: 'failed', target: t.target, ms: 0, message: r.message ?? 'failed' });
      return;
    }
    Object.assign(rep, { status: r.ok ? 'built' : 'failed', ms: r.ms, ...(r.log ? { log: r.log } : {}), ...(r.message ? { message: r.message } : {}) });
    if (r.ok && r.record) {
      built.push(r.record);
      rep.outputs = outputsOf(p, r.record);
      if (r.cached !== undefined) {
        rep.cached = true;
        run.emit({ type: 'cached', target: t.target, ms: r.ms, bytes: r.cached });
      } else run.emit({ type: 'built', target: t.target, ms: r.ms, rootfsBytes: r.record.outputs['rootfs.squashfs']?.size });
    } else run.emit({ type: 'failed', target: t.target, ms: r.ms, message: r.message ?? 'failed', log: r.log, tail: r.tail });
  }));
  if (cache) {
    await cache.flush();
    // Bases planned but never needed: every image on them came from the cache.
    for (const b of pl.bases) {
      const rep = run.reports.get(b.node);
      if (rep?.status === 'stale' && !run.signal.aborted) Object.assign(rep, { status: 'skipped', message: 'not needed: the images on it came from the cache' });
    }
  }
  return built;
}

/** The remote cache of this run, when one is configured (its module loads only then). */
async function openCache(run: Run, rc: import('./tree-node.ts').RunContext): Promise<import('../cache/stage.ts').RemoteCache | undefined> {
  if (!run.req.cache) return undefined;
  const { RemoteCache } = await import('../cache/stage.ts');
  const cache = new RemoteCache(run.req.cache, rc, { maxAgeMs: maxAgeOf(run.req.maxAge), nowMs: Date.now(), force: !!run.req.force });
  run.emit({ type: 'info', message: `cache: ${cache.where}${run.req.cache.readOnly ? ' (read-only)' : ''}` });
  return cache;
}

/** Node events update the base nodes' reports on their way to the logger. */
function onNodeEvent(run: Run, e: RunEvent): void {
  const rep = 'target' in e ? run.reports.get(e.target) : undefined;
  if (rep && rep.target.startsWith('base/')) {
    if (e.type === 'built') Object.assign(rep, { status: 'built', ms: e.ms });
    if (e.type === 'cached') Object.assign(rep, { status: 'built', ms: e.ms, cached: true });
    if (e.type === 'failed') Object.assign(rep, { status: 'failed', ms: e.ms, message: e.message, log: e.log });
  }
  run.emit(e);
}

/** Parses `--max-age`; throws a UserError for a malformed duration. */
function maxAgeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UserError(`--max-age: expected a duration such as 7d, 12h, 30m or 2w, got "${text}"`);
  return ms;
}

/**
 * Takes the build lock (waiting unless `wait: false`), plans again when another build changed
 * the records meanwhile, and removes what interrupted builds left. Undefined when interrupted
 * while waiting.
 */
async function takeLock(run: Run, pl: Plan, makePlan: () => Promise<Plan>): Promise<{ lock: HeldLock; plan: Plan } | undefined> {
  const { acquireLock } = await import('./lock.ts');
  const { p, emit, signal } = run;
  let lock: HeldLock;
  try {
    lock = await acquireLock(p, { wait: run.req.wait !== false, onWait: (message) => emit({ type: 'waiting', message }), command: `build ${run.req.specs.join(' ')}`.trim(), signal });
  } catch (e) {
    if (signal.aborted) return undefined;
    throw e;
  }
  // Another build may have finished while we waited: plan again against its records.
  const plan = recordsChanged(pl.records, p) ? await makePlan() : pl;
  const { removeLeftovers } = await import('./leftovers.ts');
  for (const d of await removeLeftovers(p, (message) => emit({ type: 'warning', message }))) {
    emit({ type: 'info', message: `removed ${relative(p.root, d)} (left by an interrupted build)` });
  }
  // The executor's side of builds killed with kill -9 (a builder's containers).
  for (const line of (await run.req.executor?.sweep?.(signal)) ?? []) emit({ type: 'info', message: line });
  return { lock, plan };
}

/** Plans, then builds what is stale. Never throws for a failed target (see `exitCode`). */
export async function runGraph(req: RunRequest): Promise<RunReport> {
  const started = Date.now();
  const p = projectPaths(req.root);
  const env = req.env ?? process.env;
  const emit = (e: RunEvent) => req.logger.event(e);
  const options: ImageOptions = { ...DEFAULT_OPTIONS, ...req.options };
  const maxAgeMs = maxAgeOf(req.maxAge);
  const signal = req.signal ?? new AbortController().signal;
  const makePlan = () => plan({
    paths: p, specs: req.specs, allArch: req.allArch, force: req.force, maxAgeMs, maxAgeText: req.maxAge,
    options, env, context: req.context, toolchain: req.toolchain, treeHome: req.executor?.treeHome, warn: (message) => emit({ type: 'warning', message }),
    debug: env.APPLIANCE_BUILD_DEBUG ? (message) => emit({ type: 'debug', message }) : undefined,
  });
  // Refuses a broken requested appliance (the gate) before the lock: nothing is written.
  let pl = await makePlan();
  if (req.dryRun) {
    const targets = [...initialReports(p, pl).values()];
    return { targets, dead: pl.dead, exitCode: targets.some((t) => t.status === 'error') ? 1 : 0, ms: Date.now() - started };
  }
  const index = req.index !== false;
  // A record marked indexed whose image the registry no longer holds (registry/ deleted or
  // swapped) is indexed again: the record alone would leave `test`/`serve` an empty registry.
  const present = index ? await indexedFingerprints(req.registryDir ?? p.registry) : undefined;
  const missing = (r: TargetRecord) => !!present && !!r.attestation && !present.has(r.attestation.fingerprint);
  const unindexed = (t: TargetPlan) => index && t.status === 'fresh' && !!t.record && (!t.record.indexed || missing(t.record));
  const leftovers = existsSync(p.tmp) && readdirSync(p.tmp).length > 0;
  const needsLock = leftovers || pl.dead.length > 0 || pl.targets.some((t) => t.status === 'stale' || t.refresh || unindexed(t));
  const run: Run = { req, p, options, env, emit, signal, reports: new Map() };
  let lock: HeldLock | undefined;
  let registryFailed = false;
  try {
    if (needsLock) {
      const held = await takeLock(run, pl, makePlan);
      if (!held) return finish();
      ({ lock, plan: pl } = held);
    }
    run.reports = initialReports(p, pl);
    announce(p, pl, emit);
    if (!lock) return finish();
    const built = await runPlan(run, pl);
    // Registry stage: the images built now, and fresh ones never indexed (a run killed before it).
    if (index && !signal.aborted) {
      const images = [...built, ...pl.targets.filter(unindexed).map((t) => t.record!)];
      registryFailed = !(await registryStage(p, req.registryDir ?? p.registry, images, pl, emit, env));
    }
    return finish();
  } finally {
    await lock?.release();
  }

  function finish(): RunReport {
    const targets = [...run.reports.values()];
    const own = targets.filter((t) => !t.target.startsWith('base/'));
    const count = (s: TargetReport['status']) => own.filter((t) => t.status === s).length;
    const ms = Date.now() - started;
    const cached = own.filter((t) => t.cached).length;
    emit({ type: 'summary', built: count('built'), fresh: count('fresh'), failed: count('failed') + count('error'), skipped: count('skipped'), ms, ...(cached ? { cached } : {}) });
    const failed = targets.some((t) => t.status === 'failed' || t.status === 'error');
    const exitCode = signal.aborted ? 130 : failed || registryFailed ? 1 : 0;
    return { targets, dead: pl.dead, exitCode, ms };
  }
}

/**
 * Hands images to the registry and drops dead targets. Failures are reported, not thrown;
 * returns false when the registry stage failed.
 */
async function registryStage(p: ProjectPaths, registryDir: string, records: TargetRecord[], pl: Plan, emit: (e: RunEvent) => void, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { registry } = await import('./reindex.ts');
  const images: BuiltImage[] = [];
  const indexed: TargetRecord[] = [];
  for (const r of records) {
    const o = outputsOf(p, r);
    if (!o || !o.rootfs || !o.metadata.endsWith('.tar.xz')) {
      emit({ type: 'warning', message: `${r.target}: not indexed: the registry takes split images (build with --type split)` });
      continue;
    }
    const attachments = r.attestation ? [
      { ftype: 'sbom.cdx.json' as const, path: join(o.dir, r.attestation.sbom) },
      { ftype: 'provenance.intoto.jsonl' as const, path: join(o.dir, r.attestation.provenance) },
    ] : undefined;
    images.push({ name: r.appliance.name, version: r.appliance.version, description: r.appliance.description, arch: r.arch, base: r.appliance.base, metadataPath: o.metadata, rootfsPath: o.rootfs, builtAt: new Date(r.builtAt), attachments });
    indexed.push(r);
  }
  const dead = pl.dead.length > 0;
  if (!images.length && !dead) return true;
  const reg = await registry();
  if ('unavailable' in reg) {
    emit({ type: 'warning', message: `registry stage skipped: ${reg.unavailable}` });
    return true;
  }
  try {
    // The index is signed when the project has a key (`keygen`); see lib/trust/.
    const { keyPaths, loadSigningKey } = await import('../trust/keys.ts');
    const key = loadSigningKey(keyPaths(p.root, env));
    const opts = key ? { signing: { key } } : {};
    if (images.length) {
      const t0 = Date.now();
      const res = await reg.addImages(registryDir, images, opts);
      const { markIndexed } = await import('./image-node.ts');
      for (const r of indexed) markIndexed(p, r);
      emit({ type: 'info', message: `registry: ${res.added.length} version(s) added, ${images.length - res.added.length} unchanged, in ${formatDuration(Date.now() - t0)} (${relative(p.root, registryDir) || registryDir})` });
    }
    if (dead) await dropDead(registryDir, reg, pl, emit, opts);
  } catch (e) {
    emit({ type: 'warning', message: `registry stage failed: ${(e as Error).message} (the built outputs are kept; the next build indexes them)` });
    return false;
  }
  return true;
}

/** Drops the registry products of dead targets. */
async function dropDead(registryDir: string, reg: RegistryStage, pl: Plan, emit: (e: RunEvent) => void, opts: IndexOptions): Promise<void> {
  const live = await pl.liveTargets();
  if (!live) return void emit({ type: 'warning', message: 'registry: dead targets not dropped from the registry: an appliance does not load, so the live targets are unknown' });
  const res = await reg.dropTargets(registryDir, (name, arch) => live.has(`${name}:${arch}`), opts);
  const gone = res.dropped.filter((d) => d.reason === 'target-gone').map((d) => d.product);
  emit({ type: 'info', message: `registry: ${gone.length ? `dropped ${gone.join(', ')}` : 'no product of a dead target'}` });
}
