/** `sign`: re-index and sign the registry now (a new serial and expiry), without building. */
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { resign } from '../registry/index.ts';
import { REGISTRY_OPTION, notRegistryProblem, registryDirOf } from '../registry/options.ts';
import { DEFAULT_VALIDITY_MS, SIGNATURE_FILE } from '../trust/index-signature.ts';
import { keyPaths, loadSigningKey } from '../trust/keys.ts';

export const signVerb = defineVerb({
  name: 'sign',
  summary: 'sign the registry index now with .keys/registry.key (new serial, new expiry); run it from cron well before the expiry',
  args: { max: 0 },
  usage: 'sign [--valid DURATION] [--registry DIR]',
  options: {
    ...REGISTRY_OPTION,
    valid: opt.duration({ value: 'DURATION', description: `how long the signature holds, e.g. 7d or 12h (default ${DEFAULT_VALIDITY_MS / 86_400_000}d)` }),
  },
  examples: ['npx tsx build.ts sign', 'npx tsx build.ts sign --valid 7d'],
  async run(ctx) {
    const dir = registryDirOf(ctx);
    const problem = notRegistryProblem(dir);
    if (problem) throw new UserError(problem);
    const paths = keyPaths(ctx.root, ctx.env);
    const key = loadSigningKey(paths);
    if (!key) throw new UserError(`sign: no signing key at ${paths.secret}: run \`npx tsx build.ts keygen\` first`);
    const validMs = ctx.options.valid;
    let signed: { serial: number; expires: Date } | undefined;
    await resign(dir, { signing: { key, validMs }, onEvent: (e) => { if (e.type === 'sign') signed = e; } });
    ctx.stdout(`signed ${dir}/${SIGNATURE_FILE}: serial ${signed?.serial}, expires ${signed?.expires.toISOString()}\n`);
    return 0;
  },
});
