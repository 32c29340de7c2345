/**
 * Did the boot wait for the network? A check of the `test` verb for every systemd appliance: a
 * `*-wait-online` unit (systemd-networkd's on our Debian base) holds back every service ordered
 * after `network-online.target` until DHCP is done, about a second on each launch. An appliance
 * without `waitForNetwork` must boot without it (the base masks it); one that gives a reason
 * must really have waited before its services started. Read from systemd's own timestamps of
 * the running container, not from the critical chain (which follows the slowest path only).
 * @module
 */
import type { Appliance } from '../compile/model.ts';
import { execIn } from '../incus/client.ts';

/** What systemd recorded about one unit's start (monotonic µs since boot; 0: never). */
export interface UnitStart {
  /** Unit name, e.g. `nginx.service`. */
  id: string;
  /** `inactive`, `activating`, `active`, `failed`... */
  state: string;
  /** When it began to start (InactiveExitTimestampMonotonic); 0 if it never did. */
  startedAt: number;
  /** When it became active (ActiveEnterTimestampMonotonic); 0 if it never did. */
  activeAt: number;
}

/** A check result, as the `test` verb reports it. */
export interface NetworkWaitCheck { name: string; pass: boolean; output?: string }

/** A systemd unit name: `nginx` means `nginx.service`. */
export const unitName = (s: string): string => (s.includes('.') ? s : `${s}.service`);

const PROPS = 'Id,ActiveState,InactiveExitTimestampMonotonic,ActiveEnterTimestampMonotonic';

/** Parses `systemctl show -p <PROPS> unit...` (one block of KEY=value lines per unit). */
export function parseUnitStarts(text: string): UnitStart[] {
  return text.split(/\n\s*\n/).flatMap((block) => {
    const kv = new Map(block.split('\n').map((l) => l.trim()).filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const id = kv.get('Id');
    if (!id) return [];
    return [{ id, state: kv.get('ActiveState') ?? '', startedAt: Number(kv.get('InactiveExitTimestampMonotonic') || 0), activeAt: Number(kv.get('ActiveEnterTimestampMonotonic') || 0) }];
  });
}

// Monotonic time in a container is the host's (no time namespace): only differences mean something.
const sec = (us: number) => `${(us / 1e6).toFixed(2)} s`;

/**
 * The verdict on what systemd recorded: `waits` are the `*-wait-online` units, `services` the
 * appliance's own.
 */
export function judgeNetworkWait(app: Pick<Appliance, 'waitForNetwork'>, waits: UnitStart[], services: UnitStart[]): NetworkWaitCheck {
  const ran = waits.filter((w) => w.startedAt > 0 || w.state === 'activating' || w.state === 'active');
  if (!app.waitForNetwork) {
    const name = 'the boot did not wait for the network (no *-wait-online unit ran; no waitForNetwork)';
    if (!ran.length) return { name, pass: true };
    const after = services.filter((s) => s.startedAt > 0 && ran.some((w) => w.activeAt > 0 && s.startedAt >= w.activeAt));
    return {
      name, pass: false,
      output: `${ran.map((w) => `${w.id} ran (${w.state}${w.activeAt && w.startedAt ? `, for ${sec(w.activeAt - w.startedAt)}` : ''})`).join('; ')}`
        + `${after.length ? `; started after it: ${after.map((s) => `${s.id} (${sec(s.startedAt - Math.max(...ran.map((w) => w.activeAt)))} after it ended)`).join(', ')}` : ''}.`
        + ' Every launch then waits for DHCP: mask the wait (the Debian base does unless waitForNetwork is set), or set waitForNetwork to say why a service needs the network to start.',
    };
  }
  const name = `the boot waited for the network before the services (waitForNetwork: ${app.waitForNetwork})`;
  const done = Math.max(0, ...ran.map((w) => w.activeAt));
  if (!done) return { name, pass: false, output: `no *-wait-online unit became active (${waits.map((w) => `${w.id}: ${w.state}`).join(', ') || 'none loaded'})` };
  const early = services.filter((s) => s.startedAt < done);
  return early.length
    ? { name, pass: false, output: `started before the wait ended: ${early.map((s) => `${s.id} (${sec(done - s.startedAt)} before)`).join(', ')} (is it ordered after network-online.target?)` }
    : { name, pass: true };
}

/**
 * Reads the wait-online units and the appliance's services in running container `name` and
 * judges them ({@link judgeNetworkWait}). Undefined for an init system without such a wait.
 */
export async function networkWaitCheck(app: Appliance, name: string): Promise<NetworkWaitCheck | undefined> {
  if (app.base.init !== 'systemd') return undefined;
  const services = (app.services ?? []).map(unitName);
  // The pattern finds the loaded ones (masked included); the named one is there on our base.
  const r = await execIn(name, `systemctl show -p ${PROPS} systemd-networkd-wait-online.service '*-wait-online.service' ${services.map((s) => `'${s}'`).join(' ')}`, 30_000);
  if (r.code !== 0) return { name: 'the boot did not wait for the network', pass: false, output: `systemctl show failed (exit ${r.code}): ${(r.stdout + r.stderr).trim()}` };
  const units = parseUnitStarts(r.stdout);
  const waits = [...new Map(units.filter((u) => /-wait-online\.service$/.test(u.id)).map((u) => [u.id, u])).values()];
  return judgeNetworkWait(app, waits, units.filter((u) => services.includes(u.id)));
}
