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
import type { RemoteTree } from './record.ts';

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
  trees?: Array<{ path: string; key: string; form: 'tar' | 'tree'; sha256?: string }>;
  /**
   * The tree this run makes (`dir` holds `rootfs/`) and its key: kept on the executor's side when
   * it can. With `leave`, it is not brought back when kept there (see {@link ExecJob.kept}).
   */
  keep?: { key: string; dir: string; leave?: boolean };
  /**
   * Set by the executor: the `keep` tree was left on its side, verified, and not brought back
   * (`dir` stays empty on this host). Unset: the tree is in `dir`.
   */
  kept?: RemoteTree;
}

/**
 * The start of an executor's answer when a tree input that only its side held (one with a
 * `sha256`) is gone or no longer verifies: the graph restores that node and runs again.
 */
export const TREE_LOST = 'tree lost on the builder side:';

/** The key of the tree an executor's answer says was lost ({@link TREE_LOST}), or undefined. */
export function lostTree(message: string | undefined): string | undefined {
  return message?.startsWith(TREE_LOST) ? message.slice(TREE_LOST.length).trim().split(/[\s:]/)[0] : undefined;
}

/** Runs node jobs somewhere. Implementations never throw for a build failure. */
export interface Executor {
  /** Shown in logs: `this host`, or `builder <remote>`. */
  readonly name: string;
  /** Runs on this host: the host's distrobuilder and binfmt_misc must be there. */
  readonly local: boolean;
  /**
   * Where this executor keeps trees on its side (`remote/project/volume` of a builder's tree
   * cache volume); undefined when it keeps none. A tree recorded there is used in place.
   */
  readonly treeHome?: string;
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
