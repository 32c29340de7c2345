/** `sbom NAME[:ARCH]`: the packages of a published image, from its SBOM, as a table or JSON. */
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { REGISTRY_OPTION, registryDirOf } from '../registry/options.ts';
import { publishedImages } from '../trust/published.ts';
import { table } from './list.ts';

export const sbomVerb = defineVerb({
  name: 'sbom',
  summary: 'list the packages of a published image (its CycloneDX SBOM) as a table',
  args: { min: 1, max: 1 },
  usage: 'sbom NAME[:ARCH] [--json] [--registry DIR]',
  options: { ...REGISTRY_OPTION, json: opt.boolean({ description: 'print the packages as JSON (name, version, arch, source, sourceVersion, purl)' }) },
  examples: ['npx tsx build.ts sbom nginx', 'npx tsx build.ts sbom nginx:arm64 --json'],
  async run(ctx) {
    const imgs = await publishedImages(registryDirOf(ctx), ctx.args);
    const missing = imgs.filter((i) => !i.sbom);
    for (const i of missing) ctx.stderr(`${i.product} ${i.version}: ${i.problem}\n`);
    const withSbom = imgs.filter((i) => i.sbom);
    if (ctx.options.json) {
      ctx.stdout(JSON.stringify(withSbom.map((i) => ({ product: i.product, version: i.version, fingerprint: i.fingerprint, os: i.sbom!.os, packages: i.sbom!.packages })), null, 2) + '\n');
    } else {
      for (const i of withSbom) {
        const s = i.sbom!;
        ctx.stdout(`${i.product} ${i.applianceVersion} (${i.version}, ${s.os.id} ${s.os.versionId}${s.os.codename ? ` ${s.os.codename}` : ''}): ${s.packages.length} packages, fingerprint ${i.fingerprint}\n`);
        ctx.stdout(table([['PACKAGE', 'VERSION', 'ARCH', 'SOURCE', 'SOURCE VERSION'], ...s.packages.map((p) => [p.name, p.version, p.arch, p.source, p.sourceVersion])]));
      }
    }
    if (missing.length && !withSbom.length) throw new UserError(`sbom: no SBOM for ${ctx.args[0]}`);
    return missing.length ? 1 : 0;
  },
});
