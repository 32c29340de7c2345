/** `verify`: re-hash every indexed file and check the index; exit 1 on any mismatch or missing file. */
import type { Verb } from '../cli.ts';
import { verifyRegistry } from '../registry/verify.ts';
import { REGISTRY_OPTION, asUserError, humanSize, registryDirOf } from '../registry/options.ts';

export const verifyVerb: Verb = {
  name: 'verify',
  summary: 'recompute every sha256 and combined hash of the registry; report each mismatch or missing file',
  args: { max: 0 },
  usage: 'verify [--registry DIR]',
  options: { ...REGISTRY_OPTION },
  examples: ['npx tsx build.ts verify'],
  async run(ctx) {
    const dir = registryDirOf(ctx);
    const r = await asUserError('verify', () => verifyRegistry(dir));
    for (const w of r.warnings) ctx.stderr(`warning: ${w}\n`);
    for (const e of r.errors) ctx.stderr(`error: ${e}\n`);
    const summary = `${r.versions} version(s), ${r.files} file(s), ${humanSize(r.bytes)} checked in ${dir}`;
    if (r.errors.length) {
      ctx.stderr(`verify: FAILED: ${r.errors.length} problem(s); ${summary}\n`);
      return 1;
    }
    ctx.stdout(`verify: OK: ${summary}\n`);
    return 0;
  },
};
