/** `help [verb]`: every verb, every option, examples. */
import type { OptionTable, Verb } from '../cli.ts';
import { GLOBAL_OPTIONS } from '../cli.ts';
import { UserError } from '../diagnostics.ts';

function optionLines(opts: OptionTable): string[] {
  return Object.entries(opts).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return `    ${flag.padEnd(28)} ${o.description}`;
  });
}

/** Builds the help verb over the full verb table (including itself). */
export function helpVerb(verbs: () => Promise<Verb[]>): Verb {
  return {
    name: 'help',
    summary: 'show this help, or the help of one verb',
    args: { max: 1 },
    usage: 'help [verb]',
    examples: ['npx tsx build.ts help', 'npx tsx build.ts help build'],
    async run(ctx) {
      const all = await verbs();
      const one = ctx.args[0];
      const shown = one ? all.filter((v) => v.name === one) : all;
      if (one && shown.length === 0) throw new UserError(`help: unknown verb "${one}"; verbs: ${all.map((v) => v.name).join(', ')}`);
      const out: string[] = [];
      if (!one) {
        out.push('Incus Appliance Registry: build appliances into a SimpleStreams registry and serve it.', '');
        out.push('Usage: npx tsx build.ts [verb] [targets...] [options]', '');
        out.push('A target is <name>:<arch> (amd64/arm64; x86_64/aarch64 accepted). <name> alone means the host');
        out.push('architecture. With no verb, `build` is meant: `npx tsx build.ts nginx:arm64`.', '');
        out.push('Verbs:');
        for (const v of all) out.push(`  ${v.name.padEnd(14)} ${v.summary}`);
        out.push('');
      }
      for (const v of shown) {
        out.push(`${v.name}: ${v.summary}`, `  usage: npx tsx build.ts ${v.usage}`);
        if (v.options && Object.keys(v.options).length) out.push('  options:', ...optionLines(v.options));
        if (v.examples?.length) out.push('  examples:', ...v.examples.map((e) => `    ${e}`));
        out.push('');
      }
      out.push('Options of every verb:', ...optionLines(GLOBAL_OPTIONS), '');
      out.push('Environment: APPLIANCE_DEBIAN_MIRROR, APPLIANCE_ALPINE_MIRROR (mirrors), DISTROBUILDER (the distrobuilder', 'executable), NO_COLOR (plain output).', '');
      ctx.stdout(out.join('\n'));
      return 0;
    },
  };
}
