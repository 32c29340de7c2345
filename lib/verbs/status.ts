/**
 * `status <instance>`: runs the in-image `appliance status` through `incus exec` and prints it:
 * each setting (secrets masked) and whether it was applied, unknown `user.<app>.*` keys, the data
 * volume's owner, the last apply and the health check. Exits with its code (1: not healthy).
 */
import { defineVerb } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { GUEST_COMMAND } from '../compile/settings.ts';

/** The instance named on the command line does not exist (or the Incus client cannot see it). */
export class InstanceNotFoundError extends UserError {
  constructor(readonly instance: string, detail: string) {
    super(`status: no instance "${instance}"${detail ? ` (${detail})` : ''}; \`incus list\` shows the instances`);
    this.name = 'InstanceNotFoundError';
  }
}

export const statusVerb = defineVerb({
  name: 'status',
  summary: 'show the settings, volume owner and health of a launched appliance (runs `appliance status` in it)',
  usage: 'status <instance>',
  args: { min: 1, max: 1 },
  examples: ['npx tsx build.ts status db'],
  async run(ctx) {
    const name = ctx.args[0];
    if (!name || name.startsWith('-')) throw new UserError(`status: "${name}" is not an instance name`);
    const { incus, incusAvailable } = await import('../incus/client.ts');
    const ok = await incusAvailable();
    if (!ok.ok) throw new UserError(`status needs a running Incus: ${ok.reason}`);
    const info = await incus(['list', name, '--format', 'json'], { timeoutMs: 30_000 });
    const list = info.code === 0 ? (JSON.parse(info.stdout || '[]') as Array<{ name: string; status: string }>) : [];
    const inst = list.find((i) => i.name === name.split(':').pop());
    if (!inst) throw new InstanceNotFoundError(name, info.code === 0 ? '' : info.stderr.trim().split('\n')[0]);
    if (inst.status !== 'Running') throw new UserError(`status: instance "${name}" is ${inst.status.toLowerCase()}; start it (\`incus start ${name}\`) to see its status`);
    const r = await incus(['exec', name, '--', GUEST_COMMAND, 'status'], { timeoutMs: 120_000 });
    if (r.code === 127 || /no such file|not found/i.test(r.stderr) && !r.stdout) {
      throw new UserError(`status: "${name}" has no ${GUEST_COMMAND}: not an appliance, or built before the appliance command existed (rebuild it on a newer image)`);
    }
    ctx.stdout(r.stdout);
    if (r.stderr.trim()) ctx.stderr(r.stderr);
    return r.code === 0 ? 0 : 1;
  },
});
