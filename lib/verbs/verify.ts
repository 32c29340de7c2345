/**
 * `verify`: re-hash every indexed file and check the index; with `--key`, first the index's
 * signature, expiry and serial, then print every image's fingerprint for pinning. A folder or a
 * registry URL. Exit 1 on any problem.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineVerb, opt, type VerbContext } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { verifyRegistry, type RegistrySource, type VerifyReport } from '../registry/verify.ts';
import { formatBytes } from '../format.ts';
import { REGISTRY_OPTION, notRegistryProblem, registryDirOf } from '../registry/options.ts';
import { keyIdHex, parsePublicKey, type PublicKey } from '../trust/minisign.ts';

function readKey(ctx: Ctx): PublicKey | undefined {
  const file = ctx.options.key;
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`--key ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    return parsePublicKey(text);
  } catch (e) {
    throw new UserError(`--key ${file}: ${(e as Error).message}`);
  }
}

/** The registry to check: a URL argument, a folder argument, or --registry. */
async function sourceOf(ctx: Ctx): Promise<string | RegistrySource> {
  const arg = ctx.args[0];
  if (arg && /^https?:\/\//.test(arg)) {
    const { remoteSource } = await import('../trust/remote.ts');
    let ca: string | undefined;
    if (ctx.options.ca !== undefined) {
      try { ca = readFileSync(ctx.options.ca, 'utf8'); } catch (e) { throw new UserError(`--ca ${ctx.options.ca}: ${(e as Error).message}`); }
    }
    return remoteSource(arg, { ca, signal: ctx.interrupt() });
  }
  if (arg && ctx.options.registry !== undefined) throw new UserError('verify: give the registry as an argument or as --registry, not both');
  const dir = arg ? resolve(arg) : registryDirOf(ctx);
  const problem = notRegistryProblem(dir);
  if (problem) throw new UserError(problem);
  return dir;
}

function printImages(ctx: Ctx, r: VerifyReport, key: PublicKey): void {
  const s = r.signature!;
  ctx.stdout(`signature: good, key ${keyIdHex(key.keyId)}, serial ${s.serial}, signed ${s.signed.toISOString()}, expires ${s.expires.toISOString()}\n`);
  for (const i of r.images) ctx.stdout(`${i.product} ${i.version}${i.applianceVersion ? ` (${i.applianceVersion})` : ''} ${i.fingerprint}\n`);
  if (r.images.length) ctx.stdout(`pin one with: incus launch <remote>:<fingerprint> <name>   (e.g. incus launch appliance:${r.images[0].fingerprint} web)\n`);
}

const OPTIONS = {
  ...REGISTRY_OPTION,
  key: opt.path({ value: 'PUBKEY', description: 'minisign public key of the registry (.keys/registry.pub): the index must be signed by it and not expired' }),
  'min-serial': opt.integer({ value: 'N', min: 0, description: 'refuse a signed index whose serial is below N (the newest you have seen): a replayed index' }),
  'index-only': opt.boolean({ description: 'check the index and its signature, not the image files (no downloads from a URL)' }),
  ca: opt.path({ value: 'FILE', description: 'PEM certificate to trust for an https URL (the self-signed one serve printed)' }),
};

/** What the verb's helpers receive. */
type Ctx = VerbContext<typeof OPTIONS>;

export const verifyVerb = defineVerb({
  name: 'verify',
  summary: 'recompute every sha256 and combined hash of the registry; with --key, check its signature, expiry and serial and print the fingerprints to pin',
  args: { max: 1 },
  usage: 'verify [DIR | URL] [--key PUBKEY] [--min-serial N] [--index-only] [--ca FILE] [--registry DIR]',
  options: OPTIONS,

  examples: ['npx tsx build.ts verify', 'npx tsx build.ts verify --key .keys/registry.pub', 'npx tsx build.ts verify https://registry.example.net:8443 --key registry.pub --index-only'],
  async run(ctx) {
    const key = readKey(ctx);
    const minSerial = ctx.options['min-serial'];
    if (minSerial !== undefined && !key) throw new UserError('verify: --min-serial needs --key (the serial is part of the signature)');
    const src = await sourceOf(ctx);
    const where = typeof src === 'string' ? src : src.where;
    const r = await verifyRegistry(src, { key, minSerial, indexOnly: ctx.options['index-only'] });
    for (const w of r.warnings) ctx.stderr(`warning: ${w}\n`);
    for (const e of r.errors) ctx.stderr(`error: ${e}\n`);
    const summary = ctx.options['index-only'] ? `index of ${r.images.length} image(s) checked at ${where}` : `${r.versions} version(s), ${r.files} file(s), ${formatBytes(r.bytes)} checked in ${where}`;
    if (r.errors.length) {
      ctx.stderr(`verify: FAILED: ${r.errors.length} problem(s); ${summary}\n`);
      return 1;
    }
    if (key) printImages(ctx, r, key);
    ctx.stdout(`verify: OK: ${summary}${key ? ', signature good' : ''}\n`);
    return 0;
  },
});
