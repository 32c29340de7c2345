/**
 * The build stage: plan (fresh/stale/dead, with reasons), take the lock, build the stale targets
 * with distrobuilder in a p-queue pool, remove dead targets, hand the new images to the registry.
 *
 * Other verbs use {@link buildTargets}: "build these targets if stale and give me the outputs".
 * @example
 * const report = await buildTargets({ root, specs: ['nginx:amd64'], logger: new PlainLogger(sinks) });
 * const nginx = report.targets.find((t) => t.target === 'nginx:amd64');
 * if (nginx?.outputs) launch(nginx.outputs.metadata, nginx.outputs.rootfs);
 * @module
 */
import { DEFAULT_OPTIONS, defaultJobs, type BuildOptions } from './options.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ContextOptions } from '../context.ts';
import type { BuiltImage } from '../registry/api.ts';
import type { BuildEvent, Logger } from './events.ts';
import { formatDuration, parseDuration, safeRemove } from './fsutil.ts';
import type { HeldLock } from './lock.ts';
import { logFile, outDir, buildPaths, type BuildPaths } from './paths.ts';
import { plan, type DeadTarget, type Plan, type TargetPlan } from './plan.ts';
import { readRecords, removeRecord, type TargetRecord } from './record.ts';
import { UserError } from '../diagnostics.ts';

/** What to build. */
export interface BuildRequest {
  /** Project root. */
  root: string;
  /** Targets (`name`, `name:arch`); empty = every appliance for the host architecture. */
  specs: string[];
  /** Every declared architecture. */
  allArch?: boolean;
  /** Rebuild the named targets even when fresh. */
  force?: boolean;
  /** Rebuild targets built longer ago than this, e.g. `7d`. */
  maxAge?: string;
  /** Build nothing; report fresh/stale with reasons. */
  dryRun?: boolean;
  /** distrobuilder runs at once. @default half the CPUs (1..4) */
  jobs?: number;
  /** Stop starting builds after the first failure. */
  failFast?: boolean;
  /** Run the registry stage (add the new images, drop dead targets). @default true */
  index?: boolean;
  /** Wait for another build holding the lock. @default true */
  wait?: boolean;
  /** Registry folder. @default `<root>/registry` */
  registryDir?: string;
  options?: Partial<BuildOptions>;
  env?: NodeJS.ProcessEnv;
  context?: ContextOptions;
  logger: Logger;
  /** Handle SIGINT/SIGTERM (stop builds, clean up). @default true */
  handleSignals?: boolean;
}

/** The outcome of one target. */
export interface TargetReport {
  target: string;
  status: 'fresh' | 'stale' | 'built' | 'failed' | 'skipped' | 'error';
  reasons: string[];
  /** For `failed`, `skipped` and `error`. */
  message?: string;
  ms?: number;
  /** Log file (relative to the root) of a build that ran. */
  log?: string;
  /** Output files of a target that is built (now or before), absolute paths. */
  outputs?: { dir: string; metadata: string; rootfs?: string };
}

/** The outcome of a run. */
export interface BuildReport {
  targets: TargetReport[];
  dead: DeadTarget[];
  /** 0, 1 when a target failed or errored, 130 when interrupted. */
  exitCode: number;
  ms: number;
}

export { defaultJobs };

/** The output files of a recorded target. */
export function outputsOf(p: BuildPaths, rec: TargetRecord): TargetReport['outputs'] {
  const dir = outDir(p, rec.target);
  const meta = Object.keys(rec.outputs).find((n) => /^incus\.tar(\.[a-z0-9]+)?$/.test(n));
  if (!meta) return undefined;
  return { dir, metadata: join(dir, meta), rootfs: rec.outputs['rootfs.squashfs'] ? join(dir, 'rootfs.squashfs') : undefined };
}

function recordsChanged(before: Map<string, TargetRecord>, p: BuildPaths): boolean {
  const now = readRecords(p).records;
  if (now.size !== before.size) return true;
  for (const [t, r] of now) {
    const b = before.get(t);
    if (!b || b.hash !== r.hash || b.builtAt !== r.builtAt || b.indexed !== r.indexed) return true;
  }
  return false;
}

/** Plans, then builds what is stale. Never throws for a failed target (see `exitCode`). */
export async function buildTargets(req: BuildRequest): Promise<BuildReport> {
  const started = Date.now();
  const p = buildPaths(req.root);
  const env = req.env ?? process.env;
  const log = req.logger;
  const emit = (e: BuildEvent) => log.event(e);
  const options: BuildOptions = { ...DEFAULT_OPTIONS, ...req.options };
  let maxAgeMs: number | undefined;
  if (req.maxAge !== undefined) {
    maxAgeMs = parseDuration(req.maxAge);
    if (maxAgeMs === undefined) throw new UserError(`--max-age: expected a duration such as 7d, 12h, 30m or 2w, got "${req.maxAge}"`);
  }
  const makePlan = () => plan({
    paths: p, specs: req.specs, allArch: req.allArch, force: req.force, maxAgeMs, maxAgeText: req.maxAge,
    options, env, context: req.context, warn: (message) => emit({ type: 'warning', message }),
    debug: env.APPLIANCE_BUILD_DEBUG ? (message) => emit({ type: 'debug', message }) : undefined,
  });
  let pl = await makePlan();
  const index = req.index !== false && !req.dryRun;

  if (req.dryRun) {
    const targets = pl.targets.map((t): TargetReport => ({ target: t.target, status: t.status, reasons: t.reasons, ...(t.error ? { message: t.error } : {}) }));
    return { targets, dead: pl.dead, exitCode: targets.some((t) => t.status === 'error') ? 1 : 0, ms: Date.now() - started };
  }

  const unindexed = (t: TargetPlan) => index && t.status === 'fresh' && !!t.record && !t.record.indexed;
  const leftovers = existsSync(p.tmp) && readdirSync(p.tmp).length > 0;
  const needsLock = leftovers || pl.dead.length > 0 || pl.targets.some((t) => t.status === 'stale' || t.refresh || unindexed(t));
  let lock: HeldLock | undefined;
  let interrupted = false;
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    interrupted = true;
    emit({ type: 'warning', message: 'interrupted: stopping the running builds (press Ctrl-C again to quit at once)' });
    controller.abort();
  };
  const handle = req.handleSignals !== false;
  const reports = new Map<string, TargetReport>();
  let registryFailed = false;
  try {
    if (needsLock) {
      if (handle) {
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      }
      const { acquireLock } = await import('./lock.ts');
      try {
        lock = await acquireLock(p, { wait: req.wait !== false, onWait: (message) => emit({ type: 'waiting', message }), command: `build ${req.specs.join(' ')}`.trim(), signal: controller.signal });
      } catch (e) {
        if (controller.signal.aborted) return finish();
        throw e;
      }
      // Another build may have finished while we waited: plan again against its records.
      if (recordsChanged(pl.records, p)) pl = await makePlan();
      const { removeLeftovers } = await import('./runner.ts');
      for (const d of await removeLeftovers(p, (message) => emit({ type: 'warning', message }))) {
        emit({ type: 'info', message: `removed ${relative(p.root, d)} (left by an interrupted build)` });
      }
    }

    // A big catalogue: fresh targets only count in the summary (one line each would drown the rest).
    const quietFresh = pl.targets.length > 20;
    for (const t of pl.targets) {
      if (t.status === 'stale') emit({ type: 'stale', target: t.target, reasons: t.reasons });
      else if (t.status === 'error') emit({ type: 'error', target: t.target, message: `${t.errorFile ? `${relative(p.root, t.errorFile)}: ` : ''}${t.error}` });
      else if (!quietFresh) emit({ type: 'fresh', target: t.target });
      const base: TargetReport = { target: t.target, status: t.status, reasons: t.reasons, ...(t.error ? { message: t.error } : {}) };
      if (t.status === 'fresh' && t.record) base.outputs = outputsOf(p, t.record);
      reports.set(t.target, base);
    }

    if (!lock) return finish();
    const { default: PQueue } = await import('p-queue');
    const heavy = new PQueue({ concurrency: Math.max(1, req.jobs ?? defaultJobs()) });
    const light = new PQueue({ concurrency: 4 });
    const runner = await import('./runner.ts');
    const rc = { paths: p, toolchain: pl.toolchain, options, context: pl.context, env, emit, signal: controller.signal };

    // Dead targets: their outputs, records and logs go.
    const dead = pl.dead.map((d) => light.add(() => {
      const removed: string[] = [];
      for (const f of [outDir(p, d.target), logFile(p, d.target)]) {
        if (existsSync(f)) {
          const r = safeRemove(f);
          if (r.removed) removed.push(relative(p.root, f));
          else emit({ type: 'warning', message: `${relative(p.root, f)}: ${r.problem}` });
        }
      }
      removed.push(...removeRecord(p, d.target).map((f) => relative(p.root, f)));
      emit({ type: 'dead', target: d.target, reason: d.reason, removed });
    }));
    // Fresh targets whose inputs were touched without changing the key: refresh the record.
    const refreshed = new Map<string, TargetRecord>();
    const refresh = pl.targets.filter((t) => t.status === 'fresh' && t.refresh).map((t) => light.add(() => {
      const r = runner.refreshRecord(p, t, rc);
      if (r) refreshed.set(t.target, r);
    }));

    let stop = false;
    const built: TargetRecord[] = [];
    const builds = pl.targets.filter((t) => t.status === 'stale').map((t) => heavy.add(async () => {
      const rep = reports.get(t.target)!;
      if (stop || controller.signal.aborted) {
        const reason = controller.signal.aborted ? 'interrupted' : 'an earlier target failed and --fail-fast is set';
        emit({ type: 'skipped', target: t.target, reason });
        Object.assign(rep, { status: 'skipped', message: reason });
        return;
      }
      emit({ type: 'start', target: t.target });
      const r = await runner.buildTarget(t, rc);
      Object.assign(rep, { status: r.ok ? 'built' : 'failed', ms: r.ms, log: r.log, ...(r.message ? { message: r.message } : {}) });
      if (r.ok && r.record) {
        built.push(r.record);
        rep.outputs = outputsOf(p, r.record);
      } else if (req.failFast) stop = true;
    }));
    await Promise.all([...dead, ...refresh, ...builds]);

    // Registry stage: the images built now, and fresh ones never indexed (a run killed before it).
    if (index && !controller.signal.aborted) {
      const images = [...built];
      for (const t of pl.targets) {
        if (unindexed(t)) images.push(refreshed.get(t.target) ?? t.record!);
      }
      registryFailed = !(await light.add(() => registryStage(p, req.registryDir ?? p.registry, images, pl, emit)));
    }
    return finish();
  } finally {
    if (handle) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    await lock?.release();
  }

  function finish(): BuildReport {
    const targets = [...reports.values()];
    const count = (s: TargetReport['status']) => targets.filter((t) => t.status === s).length;
    const ms = Date.now() - started;
    emit({ type: 'summary', built: count('built'), fresh: count('fresh'), failed: count('failed') + count('error'), skipped: count('skipped'), ms });
    const exitCode = interrupted ? 130 : count('failed') + count('error') > 0 || registryFailed ? 1 : 0;
    return { targets, dead: pl.dead, exitCode, ms };
  }
}

/**
 * Hands images to the registry and drops dead targets. Failures are reported, not thrown;
 * returns false when the registry stage failed.
 */
async function registryStage(p: BuildPaths, registryDir: string, records: TargetRecord[], pl: Plan, emit: (e: BuildEvent) => void): Promise<boolean> {
  const { registry } = await import('./reindex.ts');
  const images: BuiltImage[] = [];
  const indexed: TargetRecord[] = [];
  for (const r of records) {
    const o = outputsOf(p, r);
    if (!o || !o.rootfs || !o.metadata.endsWith('.tar.xz')) {
      emit({ type: 'warning', message: `${r.target}: not indexed: the registry takes split images with an xz metadata tarball (build with --type split --compression xz)` });
      continue;
    }
    images.push({ name: r.appliance.name, version: r.appliance.version, description: r.appliance.description, arch: r.arch, base: r.appliance.base, metadataPath: o.metadata, rootfsPath: o.rootfs, builtAt: new Date(r.builtAt) });
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
    if (images.length) {
      const t0 = Date.now();
      const res = await reg.addImages(registryDir, images);
      const { markIndexed } = await import('./runner.ts');
      for (const r of indexed) markIndexed(p, r);
      emit({ type: 'info', message: `registry: ${res.added.length} version(s) added, ${images.length - res.added.length} unchanged, in ${formatDuration(Date.now() - t0)} (${relative(p.root, registryDir) || registryDir})` });
    }
    if (dead) {
      const live = await pl.liveTargets();
      if (!live) emit({ type: 'warning', message: 'registry: dead targets not dropped from the registry: an appliance does not load, so the live targets are unknown' });
      else {
        const res = await reg.dropTargets(registryDir, (name, arch) => live.has(`${name}:${arch}`));
        const gone = res.dropped.filter((d) => d.reason === 'target-gone').map((d) => d.product);
        emit({ type: 'info', message: `registry: ${gone.length ? `dropped ${gone.join(', ')}` : 'no product of a dead target'}` });
      }
    }
  } catch (e) {
    emit({ type: 'warning', message: `registry stage failed: ${(e as Error).message} (the built outputs are kept; the next build indexes them)` });
    return false;
  }
  return true;
}
