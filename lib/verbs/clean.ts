/**
 * `clean [targets...]`: removes build outputs (images, base and packages trees, their records,
 * logs and left-over temporary folders), keeping distrobuilder's download cache and the registry.
 * `clean --unused` removes only the trees and node records no target is built on any more;
 * `clean --dry-run` says what would go and what `.cache/` holds.
 * `clean-all`: removes `.cache/` entirely and the registry.
 * Both take the build lock, so they never pull files from under a running build, and print
 * every path they remove.
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineVerb, opt, type VerbContext } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { acquireLock } from '../graph/lock.ts';
import { safeRemove, treeSize } from '../graph/fsutil.ts';
import { formatBytes } from '../format.ts';
import { projectPaths, type ProjectPaths } from '../graph/paths.ts';
import { cacheUsage, targetCachePaths, unusedPaths } from '../graph/gc.ts';
import { parseTargetSpec } from '../compile/targets.ts';
import { hostArch } from '../arch.ts';

const LOCK_OPTIONS = {
  'no-wait': opt.boolean({ description: 'exit 1 at once when a build holds the .cache/ lock, instead of waiting' }),
};

const CLEAN_OPTIONS = {
  ...LOCK_OPTIONS,
  unused: opt.boolean({ description: 'remove only the base and packages trees no target is built on any more (keeps everything the catalogue uses)' }),
  'dry-run': opt.boolean({ short: 'n', description: 'remove nothing: list what would go, and what .cache/ holds' }),
};

async function locked<T>(ctx: VerbContext<typeof LOCK_OPTIONS>, p: ProjectPaths, verb: string, fn: () => Promise<T> | T): Promise<T> {
  const lock = await acquireLock(p, { wait: !ctx.options['no-wait'], onWait: (m) => ctx.stderr(m + '\n'), command: verb });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/** Prints what `.cache/` holds, folder by folder. */
function printUsage(ctx: VerbContext, p: ProjectPaths): void {
  const usage = cacheUsage(p);
  const total = usage.reduce((s, u) => s + u.bytes, 0);
  ctx.stdout(`.cache/ holds ${formatBytes(total)}${usage.length ? `: ${usage.map((u) => `${u.name} ${formatBytes(u.bytes)}`).join(', ')}` : ''}\n`);
}

/** What `clean` would remove for the given arguments. */
function cleanPaths(ctx: VerbContext<typeof CLEAN_OPTIONS>, p: ProjectPaths): string[] {
  if (ctx.options.unused) return unusedPaths(p).map((u) => u.path);
  if (!ctx.args.length) return [p.out, p.records, p.logs, p.tmp, p.trees];
  return ctx.args.flatMap((spec) => {
    const { name, arch } = parseTargetSpec(spec);
    const target = `${name}:${arch ?? hostArch()}`;
    return targetCachePaths(p, target);
  });
}

/** Removes `paths`, printing each with its size; returns the total bytes removed. */
function removeAll(ctx: VerbContext, paths: string[]): { count: number; bytes: number; failed: number } {
  let count = 0;
  let bytes = 0;
  let failed = 0;
  for (const path of paths) {
    if (!existsSync(path)) continue;
    const size = treeSize(path);
    const r = safeRemove(path);
    const rel = relative(ctx.root, path) || path;
    if (r.removed) {
      ctx.stdout(`removed ${rel} (${formatBytes(size)})\n`);
      count++;
      bytes += size;
    } else {
      ctx.stderr(`error: could not remove ${rel}: ${r.problem}\n`);
      failed++;
    }
  }
  return { count, bytes, failed };
}

export const cleanVerb = defineVerb({
  name: 'clean',
  summary: 'remove build outputs (all, or of the named targets); keep the download cache and the registry',
  usage: 'clean [name[:arch]...] [--unused] [--dry-run] [--no-wait]',
  options: CLEAN_OPTIONS,
  examples: ['npx tsx build.ts clean', 'npx tsx build.ts clean nginx:arm64', 'npx tsx build.ts clean --unused', 'npx tsx build.ts clean --dry-run'],
  async run(ctx) {
    const p = projectPaths(ctx.root);
    if (ctx.options.unused && ctx.args.length) throw new UserError('clean: --unused takes no targets');
    // Not the lock (we hold it) nor the download cache (.cache/sources).
    if (ctx.options['dry-run']) {
      const paths = cleanPaths(ctx, p).filter((f) => existsSync(f));
      for (const f of paths) ctx.stdout(`would remove ${relative(ctx.root, f)} (${formatBytes(treeSize(f))})\n`);
      if (!paths.length) ctx.stdout('clean: nothing to remove\n');
      printUsage(ctx, p);
      return 0;
    }
    const r = await locked(ctx, p, 'clean', () => removeAll(ctx, cleanPaths(ctx, p)));
    ctx.stdout(r.count ? `clean: removed ${r.count} path(s), ${formatBytes(r.bytes)}; kept ${relative(ctx.root, p.sources)} and the registry\n` : 'clean: nothing to remove\n');
    return r.failed ? 1 : 0;
  },
});

export const cleanAllVerb = defineVerb({
  name: 'clean-all',
  summary: 'remove .cache/ entirely (outputs, records, logs, download cache) and the registry',
  args: { max: 0 },
  usage: 'clean-all [--registry DIR] [--no-wait]',
  options: {
    ...LOCK_OPTIONS,
    registry: opt.path({ value: 'DIR', description: 'registry folder (default: <project>/registry)' }),
  },
  examples: ['npx tsx build.ts clean-all'],
  async run(ctx) {
    const p = projectPaths(ctx.root);
    const registry = ctx.options.registry ?? p.registry;
    let r = { count: 0, bytes: 0, failed: 0 };
    if (existsSync(p.cache)) {
      r = await locked(ctx, p, 'clean-all', () => {
        // Everything in .cache/ but the lock we hold; the folder itself after the release.
        const inside = readdirSync(p.cache).map((n) => join(p.cache, n)).filter((f) => f !== p.lock);
        return removeAll(ctx, inside);
      });
      safeRemove(p.cache);
    }
    const reg = removeAll(ctx, [registry]);
    const count = r.count + reg.count;
    ctx.stdout(count ? `clean-all: removed ${count} path(s), ${formatBytes(r.bytes + reg.bytes)}\n` : 'clean-all: nothing to remove\n');
    return r.failed + reg.failed ? 1 : 0;
  },
});
