/**
 * A builder: runs each node's distrobuilder in its own throw-away container on an Incus remote,
 * the way images.linuxcontainers.org does (lxc-ci `build-distro`, see docs/scale.md):
 * launch an ephemeral privileged+nesting container from the builder image, push the inputs in
 * (a tar stream through `incus exec`, at the same absolute paths, so the run's arguments need
 * no rewriting), run distrobuilder through `incus exec` with its output streamed into the node's
 * log, pull the outputs back (tar stream), and delete the container in every case.
 *
 * Every container carries a mark (`user.appliance-registry.builder=<host>/<pid>/<start>`): a
 * later run deletes the containers whose owner process is gone (the CLI killed with kill -9).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { execa } from 'execa';
import { runDistrobuilder } from '../graph/distrobuilder.ts';
import { TREE_LOST, type ExecJob, type Executor } from '../graph/executor.ts';
import type { RemoteTree } from '../graph/record.ts';
import { formatBytes } from '../format.ts';
import type { Arch } from '../arch.ts';
import { Placer, type Member } from './placement.ts';
import { testPrefix } from '../runtime/appliance-test.ts';
import { checkScript, DEVICE, ensureVolume, execScript, materializeScript, MOUNT, parseCheck, parseKept, q, storeScript, type TreeInput, type TreeVolume } from './volume.ts';

/** The config key marking our builder containers, with their owner process. */
export const MARK_KEY = 'user.appliance-registry.builder';
/** Builder container names start with this, after `APPLIANCE_TEST_PREFIX` (see {@link builderPrefix}). */
export const INSTANCE_PREFIX = 'bld-';

/** The start of this user's builder container names: `APPLIANCE_TEST_PREFIX` (several users of one Incus host each see their own), then `bld-`. */
export function builderPrefix(): string {
  return `${testPrefix()}${INSTANCE_PREFIX}`;
}

/** How to reach the builder. */
export interface IncusBuilder {
  /** Incus remote (`local` = this host's daemon). */
  remote: string;
  /** Incus project on the remote. */
  project?: string;
  /** The builder image, as `incus launch` takes it (`REMOTE:ALIAS`). */
  image: string;
  /** The `incus` executable. @default "incus" */
  incus?: string;
  /** Seconds to wait for a container's network (debootstrap and apt download). @default 90 */
  networkTimeout?: number;
  /** The tree cache volume's name on the remote, or false for none (every tree pushed in). @default no volume */
  volume?: string | false;
  /** The remote's cluster members (empty or absent: not a cluster). */
  members?: Member[];
  /** Builder images per architecture on the remote (a cluster with members of several); `image` otherwise. */
  images?: Partial<Record<Arch, string>>;
  /** Configured `--target` (member or `@group`) per architecture, `all` for every one (lib/builder/placement.ts). */
  targets?: Partial<Record<Arch | 'all', string>>;
}

/** The owner of a mark: host name, pid and the process start time (pids are reused). */
interface Owner { host: string; pid: number; start: string }

/** Start time of process `pid` in clock ticks since boot (/proc/PID/stat field 22), or undefined. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This process's mark. */
export function ownMark(): string {
  return `${hostname()}/${process.pid}/${processStart(process.pid) ?? '0'}`;
}

function parseMark(mark: string): Owner | undefined {
  const m = /^(.+)\/(\d+)\/(\d+)$/.exec(mark);
  return m ? { host: m[1], pid: Number(m[2]), start: m[3] } : undefined;
}

/** Whether the owner of a mark is gone: same host, and no process with its pid and start time. */
export function ownerGone(mark: string): boolean {
  const o = parseMark(mark);
  if (!o || o.host !== hostname()) return false;
  return processStart(o.pid) !== o.start;
}

/** A container name for a node: prefix, the node's name made valid, random suffix. */
export function instanceName(target: string): string {
  const slug = target.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  return `${builderPrefix()}${slug}-${randomBytes(3).toString('hex')}`;
}

/** The tree home of a builder's volume (see {@link Executor.treeHome}). */
export function treeHome(remote: string, project: string | undefined, volume: string): string {
  return `${remote}/${project ?? ''}/${volume}`;
}

/** Runs nodes in containers of an Incus remote. */
export class IncusExecutor implements Executor {
  readonly name: string;
  readonly local = false;
  readonly treeHome?: string;
  private readonly incus: string;
  private readonly mark = ownMark();
  /** The tree cache volume, looked up (and created) once per run. */
  private vol?: Promise<TreeVolume | string | undefined>;
  private readonly placer: Placer;

  constructor(private readonly b: IncusBuilder) {
    this.name = `builder ${b.remote}${b.project ? ` (project ${b.project})` : ''}`;
    this.incus = b.incus ?? 'incus';
    this.placer = new Placer(b.members ?? [], b.images ?? {}, b.targets ?? {});
    this.treeHome = b.volume ? treeHome(b.remote, b.project, b.volume) : undefined;
  }

  /** `incus` arguments with the project, when one is set. */
  private args(...a: string[]): string[] {
    return this.b.project ? ['--project', this.b.project, ...a] : a;
  }

  private ref(name: string): string {
    return `${this.b.remote}:${name}`;
  }

  /** Runs one incus command; returns why it failed, or undefined. */
  private async call(args: string[], signal?: AbortSignal, timeoutMs = 300_000): Promise<string | undefined> {
    const r = await execa(this.incus, this.args(...args), { reject: false, input: '', cancelSignal: signal, timeout: timeoutMs });
    if (r.exitCode === 0) return undefined;
    if (signal?.aborted) return 'interrupted';
    return `incus ${args.slice(0, 2).join(' ')} failed: ${String(r.stderr || r.stdout).trim().split('\n').pop() || `exit code ${r.exitCode}`}`;
  }

  async run(job: ExecJob): Promise<string | undefined> {
    const r = job.run;
    const name = instanceName(r.target);
    const stage = (s: string) => r.emit({ type: 'stage', target: r.target, stage: `${r.stagePrefix ?? ''}${s}` });
    const at = this.placer.place(job.arch, this.b.image);
    const where = at.target ? (at.target.startsWith('@') ? ` in cluster group ${at.target.slice(1)}` : ` on member ${at.target}`) : '';
    r.log.note(`# builder: ${this.name}, container ${name}${where} (image ${at.image})`);
    if (at.emulated) {
      r.log.note(`# builder: ${at.emulated}`);
      stage(at.emulated);
    }
    try {
      stage(`launching builder container ${name}${at.target ? ` on ${at.target}` : ''}`);
      const launched = await this.call(['launch', at.image, this.ref(name), '--ephemeral', ...(at.target ? ['--target', at.target] : []),
        '-c', 'security.privileged=true', '-c', 'security.nesting=true', '-c', `${MARK_KEY}=${this.mark}`], r.signal);
      if (launched) return launched;
      const vol = await this.attachVolume(name, job, r.signal);
      // A tree recorded as left in the volume has no copy here to push instead.
      const onlyThere = job.trees?.find((t) => t.sha256);
      if (!vol && onlyThere) return `${TREE_LOST} ${onlyThere.key}: the tree cache volume is not usable`;
      // Always, offline packs included: the container's boot (systemd-tmpfiles-setup, which
      // empties /tmp) must be over before the inputs land, or it deletes them under tar.
      stage('waiting for the builder to boot');
      const booted = await this.waitBooted(name, r.signal);
      if (booted) return booted;
      if (!job.offline) {
        stage('waiting for the builder network');
        const net = await this.waitNetwork(name, r.signal);
        if (net) return net;
      }
      const from = vol ? await this.fromVolume(name, job, stage) : { push: job.inputs, pushedTrees: [] };
      if ('lost' in from) return from.lost;
      const { push, pushedTrees } = from;
      if (r.signal.aborted) return 'interrupted';
      stage('pushing the inputs');
      const pushed = await this.push(name, job, push, r.signal);
      if (pushed) return pushed;
      if (vol) await this.toVolume(name, job, { pushed: pushedTrees }, stage);
      const failed = await runDistrobuilder({ ...r, exe: 'distrobuilder', wrap: [this.incus, ...this.args('exec', this.ref(name), '--cwd', r.tmp, '--')] });
      if (failed) return failed;
      let outputs = job.outputs;
      if (vol) {
        const kept = await this.toVolume(name, job, { own: true }, stage);
        if (kept && job.keep?.leave && !r.signal.aborted) {
          // Left in the volume, verified: a later node here reads it there, this host pulls it only when it needs it.
          job.kept = { ...kept, image: at.image };
          outputs = outputs.filter((o) => o !== job.keep!.dir);
          const line = `tree left on the builder (${formatBytes(kept.bytes)} not pulled, sha256 ${kept.sha256.slice(0, 12)})`;
          r.log.note(`# ${line}`);
          stage(line);
        }
      }
      if (!outputs.length) return r.signal.aborted ? 'interrupted' : undefined;
      stage('pulling the outputs');
      const pulled = await this.pull(name, outputs, r.signal);
      if (!pulled || r.signal.aborted) return pulled;
      // Once seen through a loaded https remote: the exec stream cut short ("Unexpected EOF"),
      // with the outputs intact in the container. The pull is idempotent: once more.
      r.log.note(`# ${pulled}; pulling again`);
      stage('pulling the outputs again');
      return await this.pull(name, outputs, r.signal);
    } finally {
      // Not under the run's signal: the container goes also when interrupted. Its own process
      // group, so a terminal's Ctrl-C does not cut the delete off.
      const gone = await execa(this.incus, this.args('delete', '--force', this.ref(name)), { reject: false, input: '', timeout: 120_000, detached: true });
      r.log.note(gone.exitCode === 0 ? `# builder container ${name} deleted` : `# WARNING: builder container ${name} not deleted: ${String(gone.stderr).trim()} (the next build removes it)`);
    }
  }

  /** The tree cache volume (created on first use), or undefined when there is none or it cannot be used. */
  private volume(): Promise<TreeVolume | string | undefined> {
    const name = this.b.volume;
    if (!name) return Promise.resolve(undefined);
    this.vol ??= ensureVolume(async (a) => {
      const x = await execa(this.incus, this.args(...a), { reject: false, input: '', timeout: 60_000 });
      // A timeout or a failed spawn has no stderr: execa's own message says what happened.
      return { ok: x.exitCode === 0, out: String(x.stdout ?? ''), err: x.stderr ? String(x.stderr) : x.shortMessage ?? '' };
    }, this.b.remote, name).then((v) => {
      // Only a usable volume is kept for the run: after a failed lookup (an incus call that timed
      // out under load) the next node asks again instead of pushing everything.
      if (typeof v === 'string') this.vol = undefined;
      return v;
    });
    return this.vol;
  }

  /** Attaches the tree cache volume to the container when the job has trees; false when it is not used. */
  private async attachVolume(name: string, job: ExecJob, signal: AbortSignal): Promise<boolean> {
    if (!job.trees?.length && !job.keep) return false;
    const vol = await this.volume();
    if (vol === undefined) return false;
    if (typeof vol === 'string') {
      job.run.log.note(`# tree cache volume not used: ${vol}`);
      return false;
    }
    const failed = await this.call(['config', 'device', 'add', this.ref(name), DEVICE, 'disk', `pool=${vol.pool}`, `source=${vol.name}`, `path=${MOUNT}`], signal, 60_000);
    if (failed) job.run.log.note(`# tree cache volume not used: ${failed}`);
    else job.run.log.note(`# tree cache volume ${vol.name} (pool ${vol.pool}) at ${MOUNT}`);
    return !failed;
  }

  /**
   * Puts the job's input trees that the volume holds (verified by their recorded sha256) where
   * the run reads them; returns the inputs still to push and the trees pushed (to store after).
   */
  private async fromVolume(name: string, job: ExecJob, stage: (s: string) => void): Promise<{ push: string[]; pushedTrees: TreeInput[] } | { lost: string }> {
    const trees = job.trees ?? [];
    if (!trees.length) return { push: job.inputs, pushedTrees: [] };
    const log = job.run.log;
    stage('looking up the tree cache volume');
    const exec = this.args('exec', this.ref(name));
    const checked = await execScript(exec, this.incus, checkScript(trees), job.run.signal);
    const onlyThere = trees.find((t) => t.sha256);
    if (!checked.ok) {
      if (onlyThere) return { lost: `${TREE_LOST} ${onlyThere.key}: the tree cache volume lookup failed (${checked.why})` };
      log.note(`# tree cache volume: lookup failed (${checked.why}); pushing every input`);
      return { push: job.inputs, pushedTrees: [] };
    }
    const { hits, misses } = parseCheck(checked.out);
    const lost = trees.find((t) => t.sha256 && !hits.has(t.key));
    if (lost) return { lost: `${TREE_LOST} ${lost.key}: ${misses.get(lost.key) ?? 'not in the tree cache volume'}` };
    for (const [key, why] of misses) log.note(`# tree cache volume: ${key}: ${why}; pushed`);
    const found = trees.filter((t) => hits.has(t.key));
    if (found.length) {
      const placed = await execScript(exec, this.incus, materializeScript(found), job.run.signal);
      if (!placed.ok) {
        if (onlyThere) return { lost: `${TREE_LOST} ${onlyThere.key}: unpacking it from the tree cache volume failed (${placed.why})` };
        log.note(`# tree cache volume: unpacking failed (${placed.why}); pushing every input`);
        return { push: job.inputs, pushedTrees: [] };
      }
      const bytes = found.reduce((n, t) => n + hits.get(t.key)!, 0);
      const line = `tree cache volume: ${formatBytes(bytes)} not pushed (${found.map((t) => `${t.key} verified`).join(', ')})`;
      log.note(`# ${line}`);
      stage(line);
    }
    const skip = new Set(found.map((t) => t.path));
    return { push: job.inputs.filter((p) => !skip.has(p)), pushedTrees: trees.filter((t) => !hits.has(t.key)) };
  }

  /**
   * Stores trees into the volume: the trees pushed in (`pushed`, right after the push, so a run
   * that fails or is killed later has stored them all the same), or the tree the run made (`own`).
   * A failure is only logged (the build is fine, its tree is pulled). Returns where the run's own
   * tree now is.
   */
  private async toVolume(name: string, job: ExecJob, what: { pushed: TreeInput[] } | { own: true }, stage: (s: string) => void): Promise<Omit<RemoteTree, 'image'> | undefined> {
    const items: Array<{ key: string; from: string; form: 'tar' | 'tree'; own?: boolean }> = 'pushed' in what
      ? what.pushed.map((t) => ({ key: t.key, from: t.path, form: t.form }))
      : job.keep ? [{ key: job.keep.key, from: `${job.keep.dir}/rootfs`, form: 'tree', own: true }] : [];
    if (!items.length) return undefined;
    stage('storing trees in the tree cache volume');
    const r = await execScript(this.args('exec', this.ref(name)), this.incus, storeScript(name, items), job.run.signal);
    if (!r.ok) {
      job.run.log.note(`# WARNING: tree cache volume: storing failed (${r.why}); the build is not affected`);
      return undefined;
    }
    const stored = r.out.split('\n').filter((l) => l.startsWith('STORED '));
    job.run.log.note(`# tree cache volume: ${stored.join(', ') || 'already held'}`);
    const kept = job.keep && parseKept(r.out).get(job.keep.key);
    const vol = await this.vol;
    if (!kept || !vol || typeof vol === 'string') return undefined;
    return { home: this.treeHome!, remote: this.b.remote, ...(this.b.project ? { project: this.b.project } : {}), pool: vol.pool, volume: vol.name, ...kept };
  }

  /** Waits until the container's systemd finished booting (running or degraded); why not, or undefined. */
  private async waitBooted(name: string, signal: AbortSignal): Promise<string | undefined> {
    const limit = this.b.networkTimeout ?? 90;
    const until = Date.now() + limit * 1000;
    let last = '';
    // Right after the launch systemd may not answer yet (no bus socket): ask again.
    while (Date.now() < until) {
      const r = await execa(this.incus, this.args('exec', this.ref(name), '--', 'systemctl', 'is-system-running', '--wait'), { reject: false, input: '', cancelSignal: signal, timeout: Math.max(1000, until - Date.now()) });
      if (signal.aborted) return 'interrupted';
      const state = String(r.stdout).trim();
      if (state === 'running' || state === 'degraded') return undefined;
      last = state || String(r.stderr).trim();
      await new Promise((res) => setTimeout(res, 300));
    }
    return `builder container ${name} did not finish booting in ${limit} s (systemd: ${last || 'no answer'})`;
  }

  /** Waits for a default route in the container (DHCP on its bridge); why not, or undefined. */
  private async waitNetwork(name: string, signal: AbortSignal): Promise<string | undefined> {
    const until = Date.now() + (this.b.networkTimeout ?? 90) * 1000;
    while (Date.now() < until) {
      const r = await execa(this.incus, this.args('exec', this.ref(name), '--', 'sh', '-c', 'ip -4 route show default | grep -q . || ip -6 route show default | grep -q .'), { reject: false, input: '', cancelSignal: signal, timeout: 30_000 });
      if (signal.aborted) return 'interrupted';
      if (r.exitCode === 0) return undefined;
      await new Promise((res) => setTimeout(res, 500));
    }
    return `builder container ${name} got no network route in ${this.b.networkTimeout ?? 90} s`;
  }

  /** Streams the inputs into the container at the same paths; creates the output folders empty. */
  private async push(name: string, job: ExecJob, inputs: string[], signal: AbortSignal): Promise<string | undefined> {
    const rel = (p: string) => p.replace(/^\/+/, '');
    const exec = [this.incus, ...this.args('exec', this.ref(name), '--')].map(q).join(' ');
    const dirs = [job.run.tmp, ...job.outputs].map(q).join(' ');
    // Numeric owners and xattrs: a tree's owners and capabilities are part of the image.
    const script = `set -euo pipefail
${exec} mkdir -p ${dirs}
tar -C / --numeric-owner --xattrs --xattrs-include='*' -cf - ${inputs.map((p) => q(rel(p))).join(' ')} | ${exec} tar -C / --numeric-owner --xattrs --xattrs-include='*' -xf -`;
    return this.shell(script, signal, 'pushing the inputs');
  }

  /** Streams the output folders back to the same paths on this host. */
  private async pull(name: string, outputs: string[], signal: AbortSignal): Promise<string | undefined> {
    const rel = outputs.map((p) => q(p.replace(/^\/+/, ''))).join(' ');
    const exec = [this.incus, ...this.args('exec', this.ref(name), '--')].map(q).join(' ');
    const script = `set -euo pipefail
${exec} tar -C / --numeric-owner --xattrs --xattrs-include='*' -cf - ${rel} | tar -C / --numeric-owner --xattrs --xattrs-include='*' -xf -`;
    return this.shell(script, signal, 'pulling the outputs');
  }

  private async shell(script: string, signal: AbortSignal, what: string): Promise<string | undefined> {
    const r = await execa('bash', ['-c', script], { reject: false, stdin: 'ignore', cancelSignal: signal });
    if (r.exitCode === 0) return undefined;
    if (signal.aborted) return 'interrupted';
    // tar's last line only says that it failed: keep the lines that say why (first three).
    const lines = String(r.stderr).trim().split('\n').filter((l) => l && !/Exiting with failure status/.test(l));
    return `${what} failed: ${lines.slice(0, 3).join('; ') || `exit code ${r.exitCode}`}`;
  }

  /** Deletes the builder containers of this host whose owner process is gone (kill -9). */
  async sweep(signal: AbortSignal): Promise<string[]> {
    const r = await execa(this.incus, this.args('list', `${this.b.remote}:`, '--format', 'json'), { reject: false, input: '', cancelSignal: signal, timeout: 60_000 });
    if (r.exitCode !== 0) return [];
    let list: Array<{ name: string; config?: Record<string, string> }>;
    try {
      list = JSON.parse(String(r.stdout));
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const i of list) {
      const mark = i.config?.[MARK_KEY];
      if (!mark || !i.name.startsWith(builderPrefix()) || !ownerGone(mark)) continue;
      const failed = await this.call(['delete', '--force', this.ref(i.name)], undefined, 120_000);
      out.push(failed ? `builder container ${i.name} on ${this.b.remote} left by a killed build: ${failed}` : `removed builder container ${i.name} on ${this.b.remote} (left by a killed build, pid ${parseMark(mark)!.pid})`);
    }
    return out;
  }
}
