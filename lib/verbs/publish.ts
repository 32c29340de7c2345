/** `publish <destination>`: copy the registry to a folder or rsync destination in a safe order. */
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isRsyncDestination, publish } from '../registry/publish.ts';
import { REGISTRY_OPTION, notRegistryProblem, registryDirOf } from '../registry/options.ts';

export const publishVerb = defineVerb({
  name: 'publish',
  summary: 'copy the registry to a folder or rsync destination: images, then images.json, then index.json, stale files last',
  args: { min: 1, max: 1 },
  usage: 'publish <destination> [--rsync] [--registry DIR]',
  options: {
    ...REGISTRY_OPTION,
    rsync: opt.boolean({ description: 'use rsync even for a local folder (always used for [user@]host:/path)' }),
  },
  examples: ['npx tsx build.ts publish /var/www/images', 'npx tsx build.ts publish deploy@web1:/srv/images'],
  async run(ctx) {
    const [dest, extra] = ctx.args;
    if (!dest || extra !== undefined) throw new UserError('publish: expected exactly one destination (a folder or [user@]host:/path)');
    const src = registryDirOf(ctx);
    // The source must be a registry; a local destination too, unless it is new or empty
    // (publishing deletes stale files under images/ of the destination).
    if (!existsSync(src)) throw new UserError(`${src}: no registry yet (build something first, or pass --registry DIR)`);
    const problem = notRegistryProblem(src) ?? (ctx.options.rsync || isRsyncDestination(dest) ? undefined : notRegistryProblem(resolve(dest), { emptyOk: true }));
    if (problem) throw new UserError(`publish: ${problem}`);
    let copied = 0;
    try {
      await publish(src, dest, {
        rsync: ctx.options.rsync,
        onStep: (s) => {
          if (s.op === 'copy') copied++;
          else if (s.op === 'run') ctx.stdout(`$ ${s.command.join(' ')}\n`);
          else ctx.stdout(`${s.op} ${s.file}\n`);
        },
      });
    } catch (e) {
      if (e instanceof UserError) throw e;
      // rsync failing (execa's error carries its stderr), or a destination folder we cannot write.
      const err = e as NodeJS.ErrnoException & { stderr?: string; exitCode?: number };
      if (err.exitCode !== undefined || ['ENOENT', 'ENOTDIR', 'EEXIST', 'EACCES', 'EPERM', 'ENOSPC', 'EROFS'].includes(err.code ?? '')) {
        throw new UserError(`publish to ${dest} failed: ${err.stderr?.trim() || err.message}`);
      }
      throw e;
    }
    ctx.stdout(`published ${src} to ${dest}${copied ? ` (${copied} new file(s))` : ''}\n`);
    return 0;
  },
});
