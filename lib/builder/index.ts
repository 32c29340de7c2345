/**
 * `--builder REMOTE`: everything a verb needs to build on a builder instead of this host. Reads
 * the configuration, checks the remote, makes sure the builder image is there (built here from
 * the `builder` appliance and imported when missing, unless the configuration names an image),
 * and returns the executor and toolchain for `runGraph`.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { normalizeArch, type Arch } from '../arch.ts';
import type { ContextOptions } from '../compile/context.ts';
import { UserError } from '../diagnostics.ts';
import type { Logger } from '../graph/events.ts';
import type { Executor } from '../graph/executor.ts';
import type { Toolchain } from '../graph/toolchain.ts';
import { builderConfig, volumeName, type BuilderConfig } from './config.ts';
import { parseMembers, type Member } from './placement.ts';

/** The appliance whose image the builder containers run. */
export const BUILDER_APPLIANCE = 'builder';

/** What `runGraph` takes to build on a builder. */
export interface PreparedBuilder {
  config: BuilderConfig;
  executor: Executor;
  toolchain: Toolchain;
  /** Per-builder concurrency from the configuration, when set. */
  jobs?: number;
  /** The remote's native architecture. */
  arch: Arch;
}

/** What the remote says about itself, for `prepareBuilder` and `doctor`. */
export interface RemoteInfo {
  /** Native architecture (Incus spelling, e.g. x86_64). */
  architecture: string;
  arch?: Arch;
  /** Cluster members, when the remote is a cluster (`incus cluster list`: name, architecture, status). */
  members: Member[];
}

/** Asks a remote for its architecture; throws with a clear message when it does not answer. */
export async function remoteInfo(remote: string, project: string | undefined, signal?: AbortSignal): Promise<RemoteInfo> {
  const pj = project ? ['--project', project] : [];
  const r = await execa('incus', [...pj, 'query', `${remote}:/1.0`], { reject: false, input: '', cancelSignal: signal, timeout: 30_000 });
  if (r.exitCode !== 0) throw new UserError(`builder ${remote}: the Incus remote does not answer: ${String(r.stderr).trim().split('\n').pop() || `exit code ${r.exitCode}`} (see \`incus remote list\`)`);
  const doc = JSON.parse(String(r.stdout)) as { environment?: { architectures?: string[]; server_clustered?: boolean } };
  const architecture = doc.environment?.architectures?.[0] ?? 'unknown';
  let members: Member[] = [];
  if (doc.environment?.server_clustered) {
    const m = await execa('incus', [...pj, 'cluster', 'list', `${remote}:`, '--format', 'json'], { reject: false, input: '', cancelSignal: signal, timeout: 30_000 });
    if (m.exitCode !== 0) throw new UserError(`builder ${remote}: a cluster, but \`incus cluster list ${remote}:\` failed: ${String(m.stderr).trim().split('\n').pop()}`);
    members = parseMembers(String(m.stdout));
  }
  return { architecture, arch: normalizeArch(architecture), members };
}

/** The Incus fingerprint of a split image: sha256 of the metadata tarball then the rootfs. */
export async function splitFingerprint(metadata: string, rootfs: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of [metadata, rootfs]) for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Options of {@link prepareBuilder}. */
export interface PrepareOptions {
  root: string;
  /** `--builder`, if given. */
  option?: string;
  env: NodeJS.ProcessEnv;
  context?: ContextOptions;
  logger: Logger;
  signal: AbortSignal;
  /** A dry run: only the toolchain matters; the image is neither built nor imported. */
  dryRun?: boolean;
}

/** The builder of this run, ready to use; undefined when the nodes run on this host. */
export async function prepareBuilder(o: PrepareOptions): Promise<PreparedBuilder | undefined> {
  const config = builderConfig(o.root, o.option);
  if (!config) return undefined;
  const info = await remoteInfo(config.remote, config.project, o.signal);
  if (!info.arch) throw new UserError(`builder ${config.remote}: architecture ${info.architecture} is not one the registry builds for`);
  const { loadAppliance } = await import('../compile/load.ts');
  const loaded = await loadAppliance(join(o.root, 'appliances'), BUILDER_APPLIANCE, o.env);
  const version = config.distrobuilder ?? (loaded.ok ? loaded.appliance.version : undefined);
  if (!version) throw new UserError(`builder ${config.remote}: appliances/${BUILDER_APPLIANCE} does not load; give "distrobuilder" (its version) and "image" in build.config.json`);
  // The key names the distrobuilder version, not where it runs: a builder's 3.2 builds what
  // this host's 3.2 builds, so switching builders rebuilds nothing.
  const toolchain: Toolchain = { exe: `distrobuilder on builder ${config.remote}`, path: 'distrobuilder', version };
  // A configured image (per architecture, or the one for the remote's own) wins over building one here.
  const imageFor = async (a: Arch) => config.images?.[a] ?? (a === info.arch ? config.image : undefined) ?? (o.dryRun ? '(dry run)' : await builderImage(o, config, a, toolchain));
  const image = await imageFor(info.arch);
  const targets = config.targets ?? {};
  if (Object.keys(targets).length && !info.members.length) throw new UserError(`${config.origin}: builder.target: ${config.remote} is not a cluster (a member or @group needs one)`);
  // A cluster: a builder image for each architecture its online members have, and for each one
  // pinned to a member or group, so every node of such an architecture builds natively there
  // (lib/builder/placement.ts).
  const images: Partial<Record<Arch, string>> = { [info.arch]: image };
  const archs = new Set([...info.members.filter((m) => m.status === 'Online' && m.arch).map((m) => m.arch!), ...Object.keys(targets).filter((a): a is Arch => a !== 'all')]);
  for (const a of archs) images[a] ??= await imageFor(a);
  // Loaded only when a builder is configured: a no-op build must not load the build stage.
  const { IncusExecutor } = await import('./incus-executor.ts');
  const executor = new IncusExecutor({ remote: config.remote, project: config.project, image, images, targets, members: info.members, volume: volumeName(config, o.env) });
  return { config, executor, toolchain, jobs: config.jobs, arch: info.arch };
}

/**
 * The builder image on the remote, from this project's `builder` appliance: built here when it
 * is stale (with this host's distrobuilder), imported into the remote when its fingerprint is
 * not there. Returns `REMOTE:FINGERPRINT`.
 */
async function builderImage(o: PrepareOptions, config: BuilderConfig, arch: Arch, toolchain: Toolchain): Promise<string> {
  const { runGraph } = await import('../graph/run.ts');
  const target = `${BUILDER_APPLIANCE}:${arch}`;
  const common = { root: o.root, specs: [target], env: o.env, context: o.context, logger: o.logger, signal: o.signal, index: false };
  // Built before (by any distrobuilder of this version)? Then it is used as it is.
  let report = await runGraph({ ...common, dryRun: true, toolchain });
  let t = report.targets.find((x) => x.target === target);
  if (t?.status !== 'fresh' || !t.outputs?.rootfs) {
    o.logger.event({ type: 'info', message: `builder ${config.remote}: building the builder image (${target}) on this host first` });
    report = await runGraph(common);
    t = report.targets.find((x) => x.target === target);
    if (report.exitCode === 130) throw new UserError('interrupted');
    if (t?.status !== 'built' && t?.status !== 'fresh') throw new UserError(`builder ${config.remote}: the builder image ${target} could not be built here (${t?.message ?? 'failed'}); build it on a host with distrobuilder, or name an image in build.config.json (builder.image)`);
  }
  const out = t!.outputs!;
  const fingerprint = await splitFingerprint(out.metadata, out.rootfs!);
  const pj = config.project ? ['--project', config.project] : [];
  const ref = `${config.remote}:${fingerprint}`;
  const have = await execa('incus', [...pj, 'image', 'info', ref], { reject: false, input: '', timeout: 60_000 });
  if (have.exitCode !== 0) {
    o.logger.event({ type: 'info', message: `builder ${config.remote}: importing the builder image ${fingerprint.slice(0, 12)}` });
    const imp = await execa('incus', [...pj, 'image', 'import', out.metadata, out.rootfs!, `${config.remote}:`], { reject: false, input: '', cancelSignal: o.signal, timeout: 600_000 });
    if (imp.exitCode !== 0) throw new UserError(`builder ${config.remote}: importing the builder image failed: ${String(imp.stderr).trim().split('\n').pop()}`);
  }
  return ref;
}
