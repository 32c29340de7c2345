/**
 * `build [targets...]` (the default verb): builds the stale targets with distrobuilder, says why
 * each one is stale, skips the fresh ones, then re-indexes the registry.
 *
 * Start-up matters here (a no-op build should cost little more than starting node): this module
 * imports only light modules; execa, p-queue, the compiler and the registry are loaded on demand.
 * @module
 */
import { defineVerb, opt } from '../cli.ts';
import { cacheFlagProblem } from '../cache/config.ts';
import { parseDuration } from '../format.ts';
import type { RunReport } from '../graph/run.ts';
import { defaultJobs } from '../graph/options.ts';
import { LiveLogger, PlainLogger, QuietLogger, formatEvent, type Logger } from '../graph/events.ts';

/** The remote cache options, shared by every verb that builds (docs/scale.md#remote-cache). */
export const CACHE_OPTIONS = {
  cache: opt.string({ value: 'URL', check: cacheFlagProblem, description: 'remote cache (HTTP GET/PUT/HEAD, e.g. nginx WebDAV): fetch verified nodes instead of building them, upload what is built; ro+URL or --cache-ro: fetch only; `none` turns a configured one off (default: APPLIANCE_CACHE, or "cache" in build.config.json)' }),
  'cache-ro': opt.boolean({ description: 'use the remote cache read-only: fetch, never upload' }),
};

/** Options shared with other verbs that build (mirrors are global options). */
/** `-j N`: distrobuilder runs at once (shared with `test`). */
export const JOBS_OPTION = opt.integer({ short: 'j', value: 'N', min: 1, max: 64, description: `tree builds (debootstrap, apt) at once, and as many image packs (default: half the CPUs, 1 to 4; here ${defaultJobs()})` });

/** Options of the build verb. */
export const BUILD_OPTIONS = {
  'dry-run': opt.boolean({ short: 'n', description: 'build nothing: print each target as fresh or stale, with the reasons' }),
  json: opt.boolean({ description: 'print the result as JSON on stdout ({"targets":[{"target","status","reasons"}],"dead":[...]})' }),
  force: opt.boolean({ description: "rebuild the named targets' own layers (packages, image) even when they are fresh" }),
  // Kept as text: the staleness reason quotes it ("older than --max-age 7d").
  'max-age': opt.string({ value: 'AGE', description: 'rebuild base layers built longer ago than AGE (e.g. 7d), and every appliance on them: how mirror updates (security fixes) get in', check: (v) => (parseDuration(v) ? undefined : `expected a duration such as 12h, 7d or 2w, got "${v}"`) }),
  'all-arch': opt.boolean({ description: 'every architecture each appliance declares (default: the host architecture)' }),
  jobs: JOBS_OPTION,
  'fail-fast': opt.boolean({ description: 'start no new build after the first failure (default: independent targets keep building)' }),
  plain: opt.boolean({ description: 'one line per event, no live redraw (the default in CI and when not on a terminal)' }),
  'no-index': opt.boolean({ description: 'do not hand the built images to the registry' }),
  'no-wait': opt.boolean({ description: 'exit 1 at once when another build holds the .cache/ lock, instead of waiting' }),
  compression: opt.string({ value: 'METHOD', description: 'squashfs compression of the image layer: xz (smallest), zstd, zstd-3 (fastest, for the edit loop)... (part of the image key only) (default: xz)' }),
  type: opt.choice(['split', 'unified'], { value: 'TYPE', default: 'split', description: 'distrobuilder --type: split or unified (part of the key; the registry needs split) (default: split)' }),
  registry: opt.path({ value: 'DIR', description: 'registry folder (default: <project>/registry)' }),
  builder: opt.string({ value: 'REMOTE', description: 'run each node in a throw-away builder container on this Incus remote (`local`: this host\'s daemon; `host`: no builder); default: build.config.json, else this host (docs/scale.md)' }),
  ...CACHE_OPTIONS,
};

/** Renders a dry-run or build report as the `--json` document. */
export function reportJson(r: RunReport): string {
  return JSON.stringify({
    targets: r.targets.map((t) => ({
      target: t.target,
      status: t.status,
      reasons: t.reasons,
      ...(t.layers ? { layers: t.layers } : {}),
      ...(t.message ? { message: t.message } : {}),
      ...(t.ms !== undefined ? { ms: t.ms } : {}),
      ...(t.log ? { log: t.log } : {}),
      ...(t.cached ? { cached: true } : {}),
      ...(t.outputs ? { outputs: t.outputs } : {}),
    })),
    dead: r.dead,
  }, null, 2) + '\n';
}

export const buildVerb = defineVerb({
  name: 'build',
  summary: 'build the stale targets (the default verb): only what changed, saying why; --dry-run explains without building',
  usage: 'build [name[:arch]...] [--all-arch] [--dry-run] [--json] [--force] [--max-age AGE] [-j N] [--fail-fast] [--plain] [--no-index] [--cache URL [--cache-ro]]',
  options: BUILD_OPTIONS,
  examples: [
    'npx tsx build.ts                      # every appliance, host architecture',
    'npx tsx build.ts nginx:arm64          # one target (same as `build nginx:arm64`)',
    'npx tsx build.ts --all-arch -j 2      # every declared architecture, two builds at once',
    'npx tsx build.ts --dry-run            # fresh or stale, and why',
    'npx tsx build.ts --max-age 7d         # pick up mirror updates (security fixes) weekly',
    'npx tsx build.ts nginx --cache http://cache.lan:8080/appliances/   # fetch what the cache has, upload the rest',
  ],
  async run(ctx) {
    const o = ctx.options;
    const json = o.json;
    const { cacheSettings } = await import('../cache/config.ts');
    const cache = cacheSettings(ctx.root, o.cache, o['cache-ro'], ctx.env);
    const sinks = { out: ctx.stdout, err: ctx.stderr };
    const tty = !!process.stdout.isTTY && !ctx.env.CI && !o.plain && !json;
    const logger: Logger = json ? new QuietLogger(sinks) : tty ? new LiveLogger((t) => ctx.stdout(t)) : new PlainLogger(sinks);
    let report: RunReport;
    try {
      // Loaded here, not at the top: other verbs never pay for the build stage's modules.
      const { runGraph } = await import('../graph/run.ts');
      const { prepareConfiguredBuilder: prepareBuilder } = await import('../builder/config.ts');
      const context = { debianMirror: o['debian-mirror'], alpineMirror: o['alpine-mirror'] };
      const signal = ctx.interrupt();
      const builder = await prepareBuilder({ root: ctx.root, option: o.builder, env: ctx.env, context, logger, signal, dryRun: o['dry-run'] });
      report = await runGraph({
        root: ctx.root,
        specs: ctx.args,
        allArch: o['all-arch'],
        force: o.force,
        maxAge: o['max-age'],
        dryRun: o['dry-run'],
        jobs: o.jobs ?? builder?.jobs,
        ...(builder ? { executor: builder.executor, toolchain: builder.toolchain } : {}),
        failFast: o['fail-fast'],
        index: !o['no-index'],
        wait: !o['no-wait'],
        registryDir: o.registry,
        options: { type: o.type, ...(o.compression ? { compression: o.compression } : {}) },
        env: ctx.env,
        context,
        logger,
        signal,
        cache,
      });
    } finally {
      logger.close();
    }
    if (json) ctx.stdout(reportJson(report));
    else if (o['dry-run']) {
      for (const t of report.targets) {
        const line = t.status === 'error' ? `${t.target}: error: ${t.message}` : formatEvent(t.status === 'stale' ? { type: 'stale', target: t.target, reasons: t.reasons, layers: t.layers } : { type: 'fresh', target: t.target });
        ctx.stdout(line + '\n');
      }
      for (const d of report.dead) ctx.stdout(`${d.target}: no longer exists (${d.reason}); a build removes its outputs\n`);
      const targets = report.targets.filter((t) => !t.target.startsWith('base/'));
      const bases = report.targets.length - targets.length;
      const staleBases = report.targets.filter((t) => t.target.startsWith('base/') && t.status === 'stale').length;
      const n = (s: string) => targets.filter((t) => t.status === s).length;
      ctx.stdout(`${targets.length} target(s): ${n('stale')} stale, ${n('fresh')} fresh${n('error') ? `, ${n('error')} with errors` : ''}${report.dead.length ? `, ${report.dead.length} dead` : ''}; ${bases} base(s), ${staleBases} to build (dry run: nothing built)\n`);
    }
    return report.exitCode;
  },
});
