/** `compile <name:arch>`: print the distrobuilder YAML of one target. */
import { defineVerb, opt } from '../cli.ts';
import { compile, CompileError } from '../compile/compile.ts';
import { compileContext } from '../compile/context.ts';
import { UserError } from '../diagnostics.ts';
import { toYaml } from '../compile/yaml.ts';
import { loadAppliances } from '../compile/load.ts';
import { parseTargetSpec, resolveTargets } from '../compile/targets.ts';

export const compileVerb = defineVerb({
  name: 'compile',
  summary: 'print the distrobuilder YAML of a target on stdout',
  args: { min: 1 },
  usage: 'compile <name>[:<arch>]... [--layer base|packages|image]',
  options: {
    layer: opt.choice(['base', 'packages', 'image'], { value: 'LAYER', description: 'print one layer the build graph runs instead of the whole definition: base (build-dir), packages (build-dir on the base), image (pack-incus)' }),
  },
  examples: ['npx tsx build.ts compile nginx:amd64', 'npx tsx build.ts compile nginx:aarch64 > nginx-arm64.yaml', 'npx tsx build.ts compile nginx --layer packages'],
  async run(ctx) {
    if (ctx.args.length === 0) throw new UserError('compile: name a target, e.g. `compile nginx:amd64`');
    const layer = ctx.options.layer;
    const names = ctx.args.map((s) => parseTargetSpec(s).name);
    const apps = await loadAppliances(ctx.appliancesDir, names);
    const targets = resolveTargets(apps, ctx.args);
    const bctx = compileContext({ debianMirror: ctx.options['debian-mirror'], alpineMirror: ctx.options['alpine-mirror'] }, ctx.env);
    const outputs: string[] = [];
    for (const t of targets) {
      try {
        const c = compile(t.appliance, t.arch, bctx);
        if (!layer) outputs.push(c.yaml);
        else if (c.layers[layer]) outputs.push(toYaml(c.layers[layer]));
        else throw new UserError(`${t.id}: no ${layer} layer (it installs no packages: its image is packed straight on the base)`);
      } catch (e) {
        if (e instanceof CompileError) throw new UserError(`${t.id}: ${e.message}`, [{ file: e.file, message: e.message, severity: 'error' }]);
        throw e;
      }
    }
    // Several targets: a YAML stream, one document each.
    ctx.stdout(outputs.join('---\n'));
    return 0;
  },
});
