/** `keygen`: the registry's ed25519 signing key pair under .keys/ (see lib/trust/keys.ts). */
import { relative } from 'node:path';
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { createKeys, KeyError, keyPaths } from '../trust/keys.ts';

export const keygenVerb = defineVerb({
  name: 'keygen',
  summary: 'create the ed25519 key pair that signs the registry index (.keys/registry.key, .keys/registry.pub)',
  args: { max: 0 },
  usage: 'keygen [--force]',
  options: { force: opt.boolean({ description: 'replace an existing key pair (clients that pinned the old public key will refuse the registry)' }) },
  examples: ['npx tsx build.ts keygen'],
  async run(ctx) {
    const paths = keyPaths(ctx.root, ctx.env);
    let k;
    try {
      k = await createKeys(paths, ctx.options.force);
    } catch (e) {
      if (e instanceof KeyError) throw new UserError(`keygen: ${e.message}`);
      throw e;
    }
    const rel = (f: string) => relative(process.cwd(), f) || f;
    ctx.stdout(`secret key: ${rel(k.secret)} (mode 0600: keep it off the web server and out of git)\n`);
    ctx.stdout(`public key (key id ${k.keyId}), give this file to users:\n${k.pub}\n\n${k.publicText}\n`);
    ctx.stdout('The next build, prune or `npx tsx build.ts sign` signs streams/v1/images.json.\n');
    ctx.stdout(`Users check a registry with: npx tsx build.ts verify https://HOST:8443 --key registry.pub   (or: minisign -Vm images.json -p registry.pub)\n`);
    return 0;
  },
});
