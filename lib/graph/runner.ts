/**
 * Runs distrobuilder for one target: `build-incus` into a fresh `.cache/tmp/<name>-<arch>.<rnd>/`,
 * full log to `.cache/logs/<name>-<arch>.log`, outputs renamed into `.cache/out/<name>-<arch>/`
 * only on success, and the record written only after that. Whatever happens (failure, Ctrl-C,
 * kill -9), a target is either fully recorded or not recorded at all.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { Arch } from '../model.ts';
import { hostArch } from '../arch.ts';
import { ALPINE_MIRROR_UNSET } from '../context.ts';
import { privilegePrefix } from '../validate/distrobuilder.ts';
import type { BuildEvent } from './events.ts';
import { safeRemove } from './fsutil.ts';
import { BUILDER_VERSION, type BuildOptions } from './key.ts';
import { logFile, outDir, targetSlug, type BuildPaths } from './paths.ts';
import type { TargetPlan } from './plan.ts';
import { RECORD_FORMAT, writeRecord, type OutputStat, type TargetRecord } from './record.ts';
import type { Toolchain } from './toolchain.ts';

/** What every build of a run shares. */
export interface RunContext {
  paths: BuildPaths;
  toolchain: Toolchain;
  options: BuildOptions;
  context: Record<string, string>;
  env: NodeJS.ProcessEnv;
  emit: (e: BuildEvent) => void;
  /** Aborted on Ctrl-C / SIGTERM: running builds are stopped and cleaned up. */
  signal: AbortSignal;
  /** Lines of log shown when a build fails. @default 20 */
  tailLines?: number;
}

/** The outcome of one build. */
export interface BuildResult {
  target: string;
  ok: boolean;
  ms: number;
  record?: TargetRecord;
  message?: string;
  log: string;
}

const QEMU_NAMES: Record<Arch, string> = { amd64: 'x86_64', arm64: 'aarch64' };

/**
 * Why `arch` cannot be built on this host, or undefined. A foreign architecture needs
 * binfmt_misc with an enabled qemu-user handler (distrobuilder has no emulation of its own).
 * `APPLIANCE_BINFMT_DIR` replaces /proc/sys/fs/binfmt_misc (for tests).
 */
export function foreignArchProblem(arch: Arch, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (arch === hostArch()) return undefined;
  const f = join(env.APPLIANCE_BINFMT_DIR || '/proc/sys/fs/binfmt_misc', `qemu-${QEMU_NAMES[arch]}`);
  try {
    if (readFileSync(f, 'utf8').split('\n')[0].trim() === 'enabled') return undefined;
  } catch {
    /* not registered */
  }
  return `${arch} needs qemu-user emulation: run \`sudo bash lib/host/setup.sh\` (or apt-get install qemu-user-static binfmt-support && update-binfmts --enable)`;
}

/**
 * The stage a distrobuilder log line announces, if any: `level=info msg="Managing packages"`,
 * `msg="Running hooks" trigger=post-files` -> `Running hooks (post-files)`; the generator lines
 * (one per file) collapse into `Running generators`.
 */
export function stageOf(line: string): string | undefined {
  const m = /level=info msg="((?:[^"\\]|\\.)*)"(.*)$/.exec(line);
  if (!m) return undefined;
  const msg = m[1];
  if (msg === 'Running generator') return 'Running generators';
  const trigger = /trigger=(\S+)/.exec(m[2]);
  if (trigger) return `${msg} (${trigger[1]})`;
  return msg;
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

/** Builds one stale target. Never throws for a build failure: it comes back as `ok: false`. */
export async function buildTarget(tp: TargetPlan, rc: RunContext): Promise<BuildResult> {
  const p = rc.paths;
  const c = tp.compiled!;
  const started = Date.now();
  const slug = targetSlug(tp.target);
  const log = logFile(p, tp.target);
  for (const d of [p.tmp, p.logs, p.sources, p.out]) mkdirSync(d, { recursive: true });
  const tmp = mkdtempSync(join(p.tmp, `${slug}.`));
  const logStream = createWriteStream(log, { flags: 'w' });
  const tail: string[] = [];
  const keep = rc.tailLines ?? 20;
  const note = (line: string) => {
    logStream.write(line + '\n');
    tail.push(line);
    if (tail.length > keep) tail.shift();
  };
  const finish = async (ok: boolean, message?: string, record?: TargetRecord): Promise<BuildResult> => {
    const ms = Date.now() - started;
    if (!ok) note(`# FAILED after ${Math.round(ms / 1000)} s: ${message}`);
    else note(`# built in ${Math.round(ms / 1000)} s`);
    await new Promise<void>((r) => logStream.end(() => r()));
    const removed = safeRemove(tmp);
    if (!removed.removed) rc.emit({ type: 'warning', message: `${relative(p.root, tmp)}: ${removed.problem}` });
    const relLog = relative(p.root, log);
    if (ok) {
      rc.emit({ type: 'built', target: tp.target, ms, rootfsBytes: record?.outputs['rootfs.squashfs']?.size });
      return { target: tp.target, ok, ms, record, log: relLog };
    }
    rc.emit({ type: 'failed', target: tp.target, ms, message: message ?? 'failed', log: relLog, tail: tail.filter((l) => !l.startsWith('# FAILED')) });
    return { target: tp.target, ok, ms, message, log: relLog };
  };

  note(`# ${tp.target}: build started ${new Date(started).toISOString()}`);
  note(`# why: ${tp.reasons.join('; ')}`);
  const foreign = foreignArchProblem(tp.arch, rc.env);
  if (foreign) return finish(false, foreign);
  if (!rc.toolchain.path) return finish(false, `distrobuilder not found ("${rc.toolchain.exe}"): run \`sudo bash lib/host/setup.sh\`, or set DISTROBUILDER to its path`);
  if (rc.signal.aborted) return finish(false, 'interrupted');
  // The placeholder lets Alpine appliances compile and validate anywhere; it never downloads.
  if (c.yaml.includes(ALPINE_MIRROR_UNSET)) return finish(false, 'no Alpine mirror configured: set APPLIANCE_ALPINE_MIRROR or pass --alpine-mirror URL');

  const def = join(tmp, 'definition.yaml');
  writeFileSync(def, c.yaml);
  const out = join(tmp, 'out');
  const work = join(tmp, 'work');
  const [cmd, ...pre] = [...privilegePrefix(), rc.toolchain.path];
  const args = [
    ...pre,
    '--cache-dir', work,
    'build-incus', def, out,
    '--sources-dir', p.sources,
    '--type', rc.options.type,
    '--compression', rc.options.compression,
    '-o', `image.architecture=${c.distroArch}`,
  ];
  note(`$ ${[cmd, ...args].join(' ')}`);
  const child = execa(cmd, args, {
    cwd: tmp,
    env: rc.env,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    cancelSignal: rc.signal,
    forceKillAfterDelay: 10_000,
  });
  // Lets the next run stop this process if we die without stopping it (kill -9).
  if (child.pid) writeFileSync(join(tmp, 'pid'), String(child.pid));
  rc.emit({ type: 'stage', target: tp.target, stage: 'starting distrobuilder' });
  const lines = createInterface({ input: child.all! });
  let stage = '';
  lines.on('line', (line) => {
    note(line);
    const s = stageOf(line);
    if (s && s !== stage) rc.emit({ type: 'stage', target: tp.target, stage: (stage = s) });
  });
  const r = await child;
  await new Promise<void>((res) => (lines as unknown as { closed?: boolean }).closed ? res() : lines.once('close', () => res()));
  if (rc.signal.aborted || r.isCanceled) return finish(false, 'interrupted');
  if (r.exitCode !== 0) return finish(false, r.signal ? `distrobuilder was killed by ${r.signal}` : `distrobuilder exited with code ${r.exitCode}`);

  // distrobuilder ran as root through sudo: hand the files back to us.
  if (cmd === 'sudo') spawnSync('sudo', ['-n', 'chown', '-R', `${process.getuid?.()}:${process.getgid?.()}`, tmp], { stdio: 'ignore' });
  const names = existsSync(out) ? readdirSync(out) : [];
  const meta = metadataFile(names);
  if (!meta) return finish(false, `distrobuilder succeeded but wrote no incus.tar.* into ${relative(p.root, out)}`);
  if (rc.options.type === 'split' && !names.includes('rootfs.squashfs')) return finish(false, `distrobuilder succeeded but wrote no rootfs.squashfs into ${relative(p.root, out)}`);

  const builtAt = new Date().toISOString();
  const durationMs = Date.now() - started;
  writeFileSync(join(out, 'build.json'), JSON.stringify({
    target: tp.target,
    appliance: c.meta,
    arch: tp.arch,
    hash: c.hash,
    builtAt,
    durationMs,
    distrobuilder: rc.toolchain.version,
    options: rc.options,
    reasons: tp.reasons,
    metadata: meta,
    rootfs: names.includes('rootfs.squashfs') ? 'rootfs.squashfs' : undefined,
  }, null, 1) + '\n');

  // Into place: the old outputs step aside (into tmp, removed with it), the new ones move in.
  if (rc.signal.aborted) return finish(false, 'interrupted');
  const final = outDir(p, tp.target);
  if (existsSync(final)) renameSync(final, join(tmp, 'previous'));
  renameSync(out, final);
  const record: TargetRecord = {
    format: RECORD_FORMAT,
    target: tp.target,
    name: tp.name,
    arch: tp.arch,
    hash: c.hash,
    builder: BUILDER_VERSION,
    distrobuilder: rc.toolchain.version,
    options: { ...rc.options },
    context: rc.context,
    inputs: c.inputs,
    appliance: c.meta,
    outputs: outputStats(final),
    builtAt,
    durationMs,
    indexed: false,
  };
  // Only now, with the outputs complete and in place, is the key recorded.
  writeRecord(p, record, c.keyFile);
  return finish(true, undefined, record);
}

/** Rewrites the record of a fresh target whose inputs' stats changed (no rebuild). */
export function refreshRecord(p: BuildPaths, tp: TargetPlan, rc: Pick<RunContext, 'context' | 'toolchain' | 'options'>): TargetRecord | undefined {
  const rec = tp.record;
  const c = tp.compiled;
  if (!rec || !c) return undefined;
  const next: TargetRecord = { ...rec, inputs: c.inputs, appliance: c.meta, context: rc.context };
  writeRecord(p, next, c.keyFile);
  return next;
}

/** Marks a record as indexed by the registry stage. */
export function markIndexed(p: BuildPaths, rec: TargetRecord): void {
  writeRecord(p, { ...rec, indexed: true });
}

/** A left-over build folder of an interrupted run. */
export interface Leftover {
  dir: string;
  /** A process of that build still running (pid), stopped before removal. */
  pid?: number;
}

/**
 * Removes the folders of builds that did not finish (their process was killed). A distrobuilder
 * still running for one of them (its runner died with kill -9) is stopped first. Call with the
 * build lock held, so no live build of ours owns them.
 */
export async function removeLeftovers(p: BuildPaths, warn: (m: string) => void): Promise<string[]> {
  if (!existsSync(p.tmp)) return [];
  const removed: string[] = [];
  for (const n of readdirSync(p.tmp)) {
    const dir = join(p.tmp, n);
    let pid: number | undefined;
    try {
      pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    } catch {
      /* never started */
    }
    if (pid && processUses(pid, dir)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone meanwhile, or not ours */
      }
      for (let i = 0; i < 50 && processUses(pid, dir); i++) await new Promise((r) => setTimeout(r, 200));
      if (processUses(pid, dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* ignore */
        }
      }
    }
    const r = safeRemove(dir);
    if (r.removed) removed.push(dir);
    else warn(`${relative(p.root, dir)}: ${r.problem}`);
  }
  return removed;
}

/** True when process `pid` is alive and its command line mentions `dir` (so it is that build). */
function processUses(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
}

