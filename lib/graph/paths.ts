/**
 * Where the build stage keeps things. Everything lives under `<root>/.cache/` except the
 * registry (`<root>/registry/`):
 *
 * ```
 * .cache/out/<name>-<arch>/{incus.tar.xz,rootfs.squashfs,build.json}   finished outputs
 * .cache/records/<name>-<arch>.json       record: key hash, input stats, outputs, metadata
 * .cache/records/<name>-<arch>.key.json   the key JSON itself (for "why did this rebuild")
 * .cache/records/toolchain.json           distrobuilder version, cached by executable stat
 * .cache/tmp/<name>-<arch>.<random>/      one build in progress (renamed into out/ on success)
 * .cache/logs/<name>-<arch>.log           full log of the last build of a target (its image layer)
 * .cache/logs/<node slug>.log             full log of the last build of a base or packages node
 * .cache/records/nodes/<node slug>.json   record of a base or packages node (key, tree, times)
 * .cache/trees/<key hash>/rootfs/         the root tree a base or packages node built (never modified)
 * .cache/trees/<key hash>/rootfs.tar      the same tree as a tarball, for a layer built on it
 * .cache/sources/                         distrobuilder --sources-dir (downloads, kept)
 * .cache/lock/                            the build lock (proper-lockfile directory; owner.json = holder)
 * ```
 * @module
 */
import { join } from 'node:path';

/** The folders of one project. */
export interface ProjectPaths {
  root: string;
  appliancesDir: string;
  cache: string;
  out: string;
  records: string;
  tmp: string;
  logs: string;
  sources: string;
  lock: string;
  lockOwner: string;
  registry: string;
  /** Root trees of base and packages nodes, by key hash. */
  trees: string;
  /** Records of base and packages nodes. */
  nodeRecords: string;
}

/** The folders of the project at `root`. */
export function projectPaths(root: string): ProjectPaths {
  const cache = join(root, '.cache');
  return {
    root,
    appliancesDir: join(root, 'appliances'),
    cache,
    out: join(cache, 'out'),
    records: join(cache, 'records'),
    tmp: join(cache, 'tmp'),
    logs: join(cache, 'logs'),
    sources: join(cache, 'sources'),
    lock: join(cache, 'lock'),
    lockOwner: join(cache, 'lock', 'owner.json'),
    registry: join(root, 'registry'),
    trees: join(cache, 'trees'),
    nodeRecords: join(cache, 'records', 'nodes'),
  };
}

/** File-name form of a target: `nginx:amd64` -> `nginx-amd64`. */
export function targetSlug(target: string): string {
  return target.replace(':', '-');
}

/** The output folder of a target. */
export function outDir(p: ProjectPaths, target: string): string {
  return join(p.out, targetSlug(target));
}

/** The log file of a target. */
export function logFile(p: ProjectPaths, target: string): string {
  return join(p.logs, `${targetSlug(target)}.log`);
}

/**
 * File-name form of a node: `base/debian-trixie:amd64` -> `base-debian-trixie-amd64`,
 * `nginx:amd64/packages` -> `nginx-amd64.packages`, `nginx:amd64` -> `nginx-amd64`.
 */
export function nodeSlug(node: string): string {
  return node.replace('/', node.startsWith('base/') ? '-' : '.').replace(':', '-');
}

/** The log file of a base or packages node. */
export function nodeLogFile(p: ProjectPaths, node: string): string {
  return join(p.logs, `${nodeSlug(node)}.log`);
}

/** The folder of the tree a node with key `hash` built. */
export function treeDir(p: ProjectPaths, hash: string): string {
  return join(p.trees, hash);
}
