/** `list`: the appliances with version, base, architectures and description. */
import { defineVerb, opt } from '../cli.ts';
import { loadAppliances } from '../compile/load.ts';

/** Formats rows as aligned columns. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

export const listVerb = defineVerb({
  name: 'list',
  summary: 'list the appliances (name, version, base, architectures, description)',
  args: { max: 0 },
  usage: 'list [--json]',
  options: { json: opt.boolean({ description: 'print JSON instead of a table' }) },
  examples: ['npx tsx build.ts list'],
  async run(ctx) {
    const apps = await loadAppliances(ctx.appliancesDir);
    if (ctx.options.json) {
      ctx.stdout(JSON.stringify(apps.map((a) => ({ name: a.name, version: a.version, base: `${a.base.name} ${a.base.release}`, architectures: a.architectures, description: a.description })), null, 2) + '\n');
      return 0;
    }
    const rows = [['NAME', 'VERSION', 'BASE', 'ARCHITECTURES', 'DESCRIPTION']];
    for (const a of apps) rows.push([a.name, a.version, `${a.base.name} ${a.base.release}`, a.architectures.join(','), a.description]);
    ctx.stdout(table(rows));
    return 0;
  },
});
