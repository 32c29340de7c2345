/**
 * What `.cache/` holds and what no target uses any more: node records that no target record's
 * chain points to (the base of a deleted appliance, a base definition replaced since, the packages
 * layer of a removed target), and trees that no node record points to. Reads records only.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { treeSize } from './fsutil.ts';
import { logFile, nodeLogFile, outDir, treeDir, type ProjectPaths } from './paths.ts';
import { keyPath, nodeRecordPath, readNodeRecords, readRecords, recordPath } from './record.ts';

/** Disk use of each top-level folder of `.cache/`, largest first. */
export function cacheUsage(p: ProjectPaths): Array<{ name: string; bytes: number }> {
  if (!existsSync(p.cache)) return [];
  return readdirSync(p.cache).map((name) => ({ name, bytes: treeSize(join(p.cache, name)) })).sort((a, b) => b.bytes - a.bytes);
}

/** Paths of what no target uses: unused nodes (record, tree, log) and orphan trees. */
export function unusedPaths(p: ProjectPaths): Array<{ path: string; why: string }> {
  const used = new Set<string>();
  for (const r of readRecords(p).records.values()) for (const ref of r.chain ?? []) used.add(ref.node);
  const out: Array<{ path: string; why: string }> = [];
  const kept = new Set<string>();
  for (const n of readNodeRecords(p)) {
    if (used.has(n.node)) {
      kept.add(n.tree);
      continue;
    }
    const why = `${n.node}: no target is built on it`;
    for (const path of [treeDir(p, n.tree), nodeRecordPath(p, n.node), nodeLogFile(p, n.node)]) if (existsSync(path)) out.push({ path, why });
  }
  if (existsSync(p.trees)) {
    for (const t of readdirSync(p.trees)) {
      const path = treeDir(p, t);
      if (!kept.has(t) && !out.some((o) => o.path === path)) out.push({ path, why: 'no node record points to it' });
    }
  }
  return out;
}

/** The node paths of one target: its packages layer's record, tree and log (never its base). */
export function targetNodePaths(p: ProjectPaths, target: string): string[] {
  const node = `${target}/packages`;
  const r = readNodeRecords(p).find((n) => n.node === node);
  return [nodeRecordPath(p, node), nodeLogFile(p, node), ...(r ? [treeDir(p, r.tree)] : [])];
}

/** Everything `.cache/` holds of one target: outputs, record, key, log and its packages node (never its base). */
export function targetCachePaths(p: ProjectPaths, target: string): string[] {
  return [outDir(p, target), recordPath(p, target), keyPath(p, target), logFile(p, target), ...targetNodePaths(p, target)];
}
