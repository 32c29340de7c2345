/** `prune`: apply retention and the grace period now; drop targets that no longer exist. */
import { defineVerb, opt } from '../cli.ts';
import { loadAppliances } from '../compile/load.ts';
import { DEFAULT_GRACE_MS, DEFAULT_KEEP, prune } from '../registry/index.ts';
import { REGISTRY_OPTION, registryDirOf } from '../registry/options.ts';
import { keyPaths, loadSigningKey } from '../trust/keys.ts';

export const pruneVerb = defineVerb({
  name: 'prune',
  summary: 'keep the newest N versions per image, drop images of removed appliances/architectures, delete files past their grace period',
  args: { max: 0 },
  usage: 'prune [--keep N] [--dry-run] [--registry DIR]',
  options: {
    ...REGISTRY_OPTION,
    keep: opt.integer({ value: 'N', min: 1, default: DEFAULT_KEEP, description: `versions kept per appliance x architecture (default ${DEFAULT_KEEP})` }),
    'dry-run': opt.boolean({ description: 'show what would go, change nothing' }),
  },
  examples: ['npx tsx build.ts prune --dry-run', 'npx tsx build.ts prune --keep 2'],
  async run(ctx) {
    const keep = ctx.options.keep;
    const dryRun = ctx.options['dry-run'];
    const apps = await loadAppliances(ctx.appliancesDir);
    const keepTarget = (name: string, arch: string) => apps.some((a) => a.name === name && (a.architectures as readonly string[]).includes(arch));
    // A re-index: signed like a build's when the project has a key.
    const key = loadSigningKey(keyPaths(ctx.root, ctx.env));
    const r = await prune(registryDirOf(ctx), { keep, dryRun, keepTarget, ...(key ? { signing: { key } } : {}) });
    const would = dryRun ? 'would ' : '';
    for (const d of r.dropped) {
      ctx.stdout(d.version
        ? `${would}drop ${d.product} version ${d.version} (${d.reason === 'retention' ? `beyond the newest ${keep}` : d.reason})\n`
        : `${would}drop ${d.product}: its appliance or architecture no longer exists\n`);
    }
    for (const f of r.deleted) ctx.stdout(`${would}delete ${f} (grace period over)\n`);
    for (const p of r.pending) ctx.stdout(`keep ${p.file} until ${p.until.toISOString()} (grace period of ${DEFAULT_GRACE_MS / 3_600_000} h for cached indexes)\n`);
    if (!r.dropped.length && !r.deleted.length) ctx.stdout(`${dryRun ? 'nothing would go' : 'nothing to prune'}\n`);
    return 0;
  },
});
