/**
 * Where a node's distrobuilder run happens: the seam between the graph (which plans, keys and
 * records nodes on this host) and the machine that runs distrobuilder. The graph hands an
 * {@link Executor} one {@link ExecJob} per node: the run (paths of this host), the host paths it
 * reads and the folders it writes. {@link localExecutor} runs it here (the default); a builder
 * (lib/builder/) runs it in a throw-away Incus container on any remote, moving the inputs in and
 * the outputs back, so the graph never knows the difference.
 * @module
 */
import type { Arch } from '../arch.ts';
import type { DistrobuilderRun } from './distrobuilder.ts';

/** One distrobuilder run of one node, with what it reads and writes. */
export interface ExecJob {
  /** The node's architecture: a cluster builder runs it on a member of it when there is one. */
  arch?: Arch;
  /** The run: arguments and scratch folder are paths of this host. */
  run: DistrobuilderRun;
  /** Host files and folders the run reads (its definition, a parent tree or tarball). */
  inputs: string[];
  /** Host folders the run writes (created empty by the executor, filled on success). */
  outputs: string[];
  /** The run needs no network (a pack: no download, no package manager). */
  offline?: boolean;
  /**
   * Inputs that are root trees of other nodes, by key: an executor that keeps trees on its side
   * (a builder's tree cache volume) supplies them from there instead of copying them in.
   * `path` is one of `inputs`: the tree's `rootfs.tar` (form `tar`) or its `rootfs/` (form `tree`).
   */
  trees?: Array<{ path: string; key: string; form: 'tar' | 'tree' }>;
  /** The tree this run makes (`dir` holds `rootfs/`) and its key: kept on the executor's side when it can. */
  keep?: { key: string; dir: string };
}

/** Runs node jobs somewhere. Implementations never throw for a build failure. */
export interface Executor {
  /** Shown in logs: `this host`, or `builder <remote>`. */
  readonly name: string;
  /** Runs on this host: the host's distrobuilder and binfmt_misc must be there. */
  readonly local: boolean;
  /** Runs one job; undefined when it succeeded, else why it failed (`interrupted` when aborted). */
  run(job: ExecJob): Promise<string | undefined>;
  /**
   * Removes what earlier runs killed without cleaning up left on the executor's side (kill -9),
   * called with the build lock held. Returns one line per thing removed.
   */
  sweep?(signal: AbortSignal): Promise<string[]>;
}

/** Runs distrobuilder on this host, as the graph always did. */
export const localExecutor: Executor = {
  name: 'this host',
  local: true,
  // Loaded on first use: a no-op build must not load the runner (and execa) at all.
  run: async (job) => (await import('./distrobuilder.ts')).runDistrobuilder(job.run),
};
