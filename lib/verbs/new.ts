/**
 * `new <name> --package PKG --port N [--service UNIT]`: scaffolds an appliance that validates,
 * builds and passes `test` as it is (lib/scaffold/). `new --remove <name>` removes every trace
 * of one: folder, golden files, catalogue row, build outputs, registry images.
 */
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';

export const newVerb = defineVerb({
  name: 'new',
  summary: 'scaffold an appliance from a Debian package that passes validate and test as it is; --remove undoes it',
  usage: 'new <name> --package PKG [--package PKG...] --port N [--service UNIT] | new --remove <name>',
  args: { min: 1, max: 1 },
  options: {
    package: opt.list({ value: 'PKG', description: 'Debian package to install (repeatable); the first one runs the service' }),
    port: opt.string({ value: 'N', description: 'TCP port the service listens on by default (1-65535); health check, test and profile use it' }),
    service: opt.string({ value: 'UNIT', description: 'systemd service of the package (default: the first package name)' }),
    remove: opt.boolean({ description: 'remove the appliance <name> new made: folder, golden files, catalogue row, .cache/ outputs, registry images (refused when git tracks it)' }),
    'no-wait': opt.boolean({ description: 'with --remove: exit 1 at once when a build holds the .cache/ lock' }),
  },
  examples: [
    'npx tsx build.ts new web --package lighttpd --port 80',
    'npx tsx build.ts new mqtt --package mosquitto --port 1883',
    'npx tsx build.ts new --remove web',
  ],
  async run(ctx) {
    const name = ctx.args[0];
    if (ctx.options.remove) {
      const o = ctx.options;
      const extra = [o.package.length ? 'package' : '', o.port !== undefined ? 'port' : '', o.service !== undefined ? 'service' : ''].filter(Boolean);
      if (extra.length) throw new UserError(`new --remove ${name}: takes no ${extra.map((k) => `--${k}`).join(', ')}`);
      const { removeScaffold } = await import('../scaffold/remove.ts');
      const n = await removeScaffold(ctx.root, name, { log: (l) => ctx.stdout(l + '\n'), wait: !ctx.options['no-wait'], signal: ctx.interrupt() });
      ctx.stdout(`new --remove ${name}: ${n} thing(s) removed\n`);
      return 0;
    }
    if (ctx.options['no-wait']) throw new UserError('new: --no-wait goes with --remove only');
    const { scaffoldOptions } = await import('../scaffold/options.ts');
    const { VERBS } = await import('./index.ts');
    const o = scaffoldOptions(name, ctx.options, VERBS.map((v) => v.name));
    const { createScaffold } = await import('../scaffold/create.ts');
    const written = await createScaffold(ctx.root, o, { env: ctx.env, signal: ctx.interrupt() });
    ctx.stdout([
      `new ${name}: created ${written.join(', ')}`,
      '',
      'Next:',
      `  npx tsx build.ts validate ${name}     # types, rules, distrobuilder validate`,
      `  npx tsx build.ts test ${name}         # build, launch in Incus, health check, checks`,
      `  then edit appliances/${name}/ (its comments say what to replace) and refresh the README:`,
      '  UPDATE_README=1 npm test -- appliances/readme',
      `Undo: npx tsx build.ts new --remove ${name}`,
      '',
    ].join('\n'));
    return 0;
  },
});
