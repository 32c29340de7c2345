/**
 * The generated parts of each appliance README: the tables of launch-time settings, ports,
 * volumes, the health check and the `test` checks, and the launch example, all from the
 * declaration in appliance.ts (the same declaration the `test` verb uses).
 *
 * A README marks each part with `<!-- generated:KIND -->` ... `<!-- /generated:KIND -->`.
 * `test/appliances/readme.test.ts` fails when a part is stale; refresh them with
 * `UPDATE_README=1 npm test -- appliances`.
 * @module
 */
import { shellQuote } from '../../lib/shell.ts';
import type { ApplianceSpec } from '../../lib/compile/model.ts';
import { deviceName } from '../../lib/compile/profile.ts';
import { ADOPT_KEY, settingConfigKey } from '../../lib/compile/settings.ts';
import { describeKind } from '../../lib/compile/setting-kinds.ts';

/** The instance name each README uses in its examples. */
export const EXAMPLE_INSTANCE: Readonly<Record<string, string>> = { nginx: 'web', postgres: 'db', redis: 'cache', caddy: 'site', traefik: 'proxy' };

/** The example instance name of an appliance (its name when it has none of its own). */
export function exampleInstance(appliance: string): string {
  return EXAMPLE_INSTANCE[appliance] ?? appliance;
}

/** The kinds of generated part, in README order. */
export const GENERATED_KINDS = ['launch', 'settings', 'ports', 'volumes', 'health'] as const;
export type GeneratedKind = (typeof GENERATED_KINDS)[number];

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function code(s: string): string {
  return s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``;
}

/** Single-quotes a value for a POSIX shell command line (the project's one quoting helper). */
export { shellQuote };

/** A volume's short name, e.g. `/var/lib/postgresql` -> `postgresql`, `/etc/nginx/conf.d` -> `conf-d`. */
export function volumeSlug(path: string): string {
  const last = path.split('/').filter(Boolean).pop() ?? 'data';
  return last.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase() || 'data';
}

/** The launch command with every setting that has an example. */
export function launchExample(app: ApplianceSpec, instance: string): string {
  const args = Object.entries(app.settings ?? {})
    .filter(([, s]) => s.example !== undefined)
    .map(([k, s]) => ` \\\n    -c ${settingConfigKey(app.name, k)}=${shellQuote(s.example!)}`);
  return `incus launch appliance:${app.name} ${instance}${args.join('')}`;
}

/** The markdown of one generated part. */
export function generatedPart(app: ApplianceSpec, kind: GeneratedKind, instance = exampleInstance(app.name)): string {
  switch (kind) {
    case 'launch':
      return ['```sh', launchExample(app, instance), '```'].join('\n');
    case 'settings': {
      const entries = Object.entries(app.settings ?? {});
      const status = `\`incus exec ${instance} -- appliance status\` shows each setting (secrets masked), whether it was applied, the rule a value breaks, unknown \`user.${app.name}.*\` keys and the health check; it exits 1 when not healthy.`;
      if (!entries.length) return `This appliance has no launch-time settings. ${status}`;
      return [
        '| Instance config key | What it does | Accepts | Default | Example | Secret |',
        '|---|---|---|---|---|---|',
        ...entries.map(([k, s]) => `| ${code(settingConfigKey(app.name, k))} | ${cell(s.description)} | ${cell(describeKind(s.type ?? { kind: 'string' }))}${s.required ? ' (required)' : ''} | ${s.default !== undefined ? code(s.default) : '(empty)'} | ${s.example !== undefined ? code(s.example) : ''} | ${s.secret ? 'yes: removed from disk once applied' : 'no'} |`),
        '',
        `Values are checked and applied at every start, before ${app.name} starts: \`incus config set ${instance} ${settingConfigKey(app.name, 'KEY')}=VALUE\` then \`incus restart ${instance}\`. An unchanged value is not applied again, so changes made inside the instance stay. An invalid value keeps ${app.name} stopped (fail closed). ${status}`,
      ].join('\n');
    }
    case 'ports': {
      const ports = app.ports ?? [];
      if (!ports.length) return 'This appliance listens on no ports.';
      return [
        '| Port | Protocol | What | Proxy device in `profile` |',
        '|---|---|---|---|',
        ...ports.map((p) => `| ${p.port} | ${p.protocol ?? 'tcp'} | ${cell(p.description)} | ${p.localOnly ? 'none: 127.0.0.1 only inside the container' : code(deviceName(app.name, p))} |`),
      ].join('\n');
    }
    case 'volumes': {
      const vols = app.volumes ?? [];
      if (!vols.length) return 'This appliance keeps no data worth a volume.';
      const table = [
        '| Path | What lives there | Suggested volume |',
        '|---|---|---|',
        ...vols.map((v) => `| ${code(v.path)} | ${cell(v.description)} | ${code(`${instance}-${volumeSlug(v.path)}`)} |`),
      ];
      const cmds = [
        '```sh',
        launchExample(app, instance).replace(/^incus launch /, 'incus init '),
        ...vols.flatMap((v) => [
          `incus storage volume create default ${instance}-${volumeSlug(v.path)}`,
          `incus config device add ${instance} ${volumeSlug(v.path)} disk pool=default source=${instance}-${volumeSlug(v.path)} path=${v.path}`,
        ]),
        `incus start ${instance}`,
        '```',
      ];
      const owner = `The data volume (\`${vols[0].path}\`) belongs to the instance that first used it: a copy (\`incus copy\`, \`export\`/\`import\` under another name) that finds it does not start ${app.name}, and \`appliance status\` says how to copy the volume (\`incus storage volume copy\`) or take it over after a rename or a deleted instance (\`${settingConfigKey(app.name, ADOPT_KEY)}=<previous instance name>\`). \`incus rebuild\` keeps the owner.`;
      return [...table, '', 'Create and attach them before the first start:', '', ...cmds, '', owner].join('\n');
    }
    case 'health': {
      const lines = [
        `Health check (run inside the container, exit 0 = healthy; allow ${app.health.timeout ?? 60} s after launch):`,
        '',
        '```sh',
        `incus exec ${instance} -- sh -c ${shellQuote(app.health.command)}`,
        '```',
      ];
      if (app.tests?.length) {
        lines.push('', 'What `npx tsx build.ts test ' + app.name + '` checks after launching with every example value above:', '');
        lines.push(...app.tests.map((t) => `- ${t.name}`));
      }
      return lines.join('\n');
    }
  }
}

/**
 * Replaces every generated part of a README with its current text. Parts the README does not
 * mark are left out; returns the new text and the kinds it found.
 */
export function refreshReadme(text: string, app: ApplianceSpec, instance = exampleInstance(app.name)): { text: string; found: GeneratedKind[] } {
  const found: GeneratedKind[] = [];
  let out = text;
  for (const kind of GENERATED_KINDS) {
    const re = new RegExp(`(<!-- generated:${kind} -->)[\\s\\S]*?(<!-- /generated:${kind} -->)`);
    if (!re.test(out)) continue;
    found.push(kind);
    out = out.replace(re, (_m, a: string, b: string) => `${a}\n${generatedPart(app, kind, instance)}\n${b}`);
  }
  return { text: out, found };
}
