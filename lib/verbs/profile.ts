/**
 * `profile <name>`: print an Incus profile (YAML) with a proxy device per published port of the
 * appliance, for `incus profile create NAME < file` / `incus profile edit NAME < file`.
 */
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { loadAppliances } from '../compile/load.ts';
import { profileYaml, ProfileError } from '../compile/profile.ts';

export const profileVerb = defineVerb({
  name: 'profile',
  summary: 'print an Incus profile (YAML) with proxy devices for the ports of an appliance',
  args: { min: 1, max: 1 },
  usage: 'profile <name> [--listen-address ADDR] [--port-offset N] [--name PROFILE]',
  options: {
    'listen-address': opt.string({ value: 'ADDR', description: 'host address the proxy devices listen on (default 0.0.0.0; e.g. 127.0.0.1)' }),
    'port-offset': opt.integer({ value: 'N', min: -65535, max: 65535, default: 0, description: 'host port = container port + N, to publish several instances (default 0)' }),
    name: opt.string({ value: 'PROFILE', description: 'profile name (default: the appliance name)' }),
  },
  examples: [
    'npx tsx build.ts profile nginx > nginx.yaml && incus profile create nginx < nginx.yaml',
    'npx tsx build.ts profile postgres --listen-address 127.0.0.1 --port-offset 10000 --name pg-local',
  ],
  async run(ctx) {
    if (ctx.args.length !== 1) {
      throw new UserError(`profile: name exactly one appliance, e.g. \`profile nginx\`${ctx.args.length ? ` (got ${ctx.args.length}: ${ctx.args.join(' ')})` : ''}`);
    }
    const name = ctx.args[0];
    if (name.includes(':')) throw new UserError(`profile: "${name}": give an appliance name, not a target (a profile does not depend on the architecture)`);
    const portOffset = ctx.options['port-offset'];
    const [app] = await loadAppliances(ctx.appliancesDir, [name]);
    try {
      ctx.stdout(profileYaml(app, {
        listenAddress: ctx.options['listen-address'],
        portOffset,
        name: ctx.options.name,
      }));
    } catch (e) {
      if (e instanceof ProfileError) throw new UserError(`profile ${name}: ${e.message}`);
      throw e;
    }
    return 0;
  },
});
