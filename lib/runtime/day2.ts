/**
 * Day two of one appliance, on the instance the `test` verb launched (no relaunch, at most three
 * restarts):
 *
 * 1. every typed setting gets a value that breaks its kind ({@link badValue}, carrying a shell
 *    injection), plus an unknown `user.<app>.*` key; after `incus restart` the services must
 *    stay stopped, `appliance status` must name each setting with its rule, warn about the key
 *    and exit non-zero, and the injection must have left no trace;
 * 2. with `keptChanges` declared (changes made inside the instance before the restarts): the
 *    launch values back, `incus restart`, healthy, and each change is still there: settings
 *    that did not change are not applied again;
 * 3. the settings that declare a `change` get their second value (the broken ones without one
 *    get their launch value back); after `incus restart` the instance must be healthy, each
 *    setting `applied` in `appliance status`, and each `change.check` must see the new value in
 *    the running service.
 *
 * Everything is derived from the declarations (lib/compile/model.ts), none of it is per appliance.
 * @module
 */
import type { Appliance, HealthCheck, KeptChange } from '../compile/model.ts';
import { badValue, describeKind } from '../compile/setting-kinds.ts';
import { settingConfigKey } from '../compile/settings.ts';
import { execIn, incus, incusOk } from '../incus/client.ts';

/** File the injected command of a bad value would create (checked absent). */
export const INJECTION_MARK = '/root/appliance-day2-injected';
/** The unknown key the day-two phase sets: `user.<app>.<this>`. */
export const UNKNOWN_KEY = 'day2-not-a-setting';

/** One check of the phase: what it proves and whether it held. */
export interface DayTwoCheck {
  name: string;
  pass: boolean;
  output?: string;
}

/** What the phase sets, derived from the declarations. */
export interface DayTwoPlan {
  /** Config key -> bad value (typed settings only). */
  bad: Record<string, string>;
  /** Config key -> second value, with the check that sees it. */
  changes: Record<string, { value: string; check: string; secret: boolean }>;
  /** Config key -> the value the test launched with (undefined: unset), for the broken keys. */
  restore: Record<string, string | undefined>;
  /** The unknown key. */
  unknown: string;
}

/** The phase's plan for `app`; `launched` is the config the instance was launched with. */
export function dayTwoPlan(app: Appliance, launched: Record<string, string>): DayTwoPlan {
  const plan: DayTwoPlan = { bad: {}, changes: {}, restore: {}, unknown: settingConfigKey(app.name, UNKNOWN_KEY) };
  for (const [key, s] of Object.entries(app.settings ?? {})) {
    const ck = settingConfigKey(app.name, key);
    if (s.type) {
      plan.bad[ck] = badValue(s.type, `touch ${INJECTION_MARK}`);
      plan.restore[ck] = launched[ck];
    }
    if (s.change) plan.changes[ck] = { value: s.change.value, check: s.change.check, secret: !!s.secret };
  }
  return plan;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function restart(name: string): Promise<void> {
  await incusOk(['restart', name], { timeoutMs: 300_000 });
}

/** Sets (or, for undefined, unsets) config keys, in one `incus config set` where possible. */
async function setConfig(name: string, values: Record<string, string | undefined>): Promise<void> {
  const set = Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined);
  if (set.length) await incusOk(['config', 'set', name, ...set.map(([k, v]) => `${k}=${v}`)], { timeoutMs: 60_000 });
  for (const [k, v] of Object.entries(values)) if (v === undefined) await incus(['config', 'unset', name, k], { timeoutMs: 60_000 });
}

/** Waits until this boot's apply has finished (`/run/appliance/result` exists), then `appliance status`. */
async function settledStatus(name: string, timeoutMs = 180_000): Promise<{ code: number; out: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await execIn(name, 'test -f /run/appliance/result', 30_000)).code === 0) break;
    await sleep(500);
  }
  const s = await incus(['exec', name, '--', 'appliance', 'status'], { timeoutMs: 60_000 });
  return { code: s.code, out: (s.stdout + s.stderr).trim() };
}

/** Lines of `appliance status` that are a service's state. */
function activeServices(status: string): string[] {
  return [...status.matchAll(/^service (\S+): active$/gm)].map((m) => m[1]);
}

/** Step 1: bad values and an unknown key; the services stay stopped and status explains. */
async function badValues(app: Appliance, name: string, plan: DayTwoPlan): Promise<DayTwoCheck[]> {
  const keys = Object.keys(plan.bad);
  await setConfig(name, { ...plan.bad, [plan.unknown]: 'x' });
  await restart(name);
  const s = await settledStatus(name);
  const problems: string[] = [];
  if (s.code === 0) problems.push('appliance status exited 0');
  for (const ck of keys) {
    const key = ck.slice(`user.${app.name}.`.length);
    const rule = describeKind(app.settings![key].type!);
    const line = s.out.split('\n').find((l) => l.trimStart().startsWith(`${ck} `));
    if (!line?.includes(`INVALID: ${rule}`)) problems.push(`${ck}: expected "INVALID: ${rule}" on its line, got ${JSON.stringify(line ?? 'no line')}`);
    if (!s.out.includes(`${ck}: ${rule}`)) problems.push(`${ck}: the last apply does not name it with its rule`);
  }
  const active = activeServices(s.out);
  if (active.length) problems.push(`services running: ${active.join(', ')}`);
  if (!/^health: FAIL: settings not applied/m.test(s.out)) problems.push('no "health: FAIL: settings not applied" line');
  const mark = await execIn(name, `test -e ${INJECTION_MARK}`, 30_000);
  if (mark.code === 0) problems.push(`${INJECTION_MARK} exists: a value was executed`);
  const checks: DayTwoCheck[] = [{
    name: `day two: a bad value of each typed setting (${keys.map((k) => k.split('.').pop()).join(', ')}) keeps the services stopped; appliance status names setting and rule, exits non-zero; nothing executed`,
    pass: problems.length === 0,
    output: problems.length ? `${problems.join('\n')}\n--- appliance status\n${s.out}` : undefined,
  }];
  checks.push(unknownKeyCheck(plan, s.out));
  return checks;
}

function unknownKeyCheck(plan: DayTwoPlan, status: string): DayTwoCheck {
  const pass = new RegExp(`^warning: unknown key ${plan.unknown.replace(/\./g, '\\.')}\\b`, 'm').test(status);
  return { name: `day two: the unknown key ${plan.unknown} is reported by appliance status`, pass, output: pass ? undefined : status };
}

/** Restarts with `values` set, waits for health; a failed check when it is not healthy. */
async function restartHealthy(name: string, values: Record<string, string | undefined>, health: HealthCheck, what: string): Promise<{ status: string; failed?: DayTwoCheck }> {
  await setConfig(name, values);
  await restart(name);
  const { waitHealthy } = await import('./appliance-test.ts');
  const h = await waitHealthy(name, health, Date.now());
  const s = await settledStatus(name);
  if (h.healthy && s.code === 0) return { status: s.out };
  return { status: s.out, failed: { name: `day two: healthy again after config set + restart ${what}`, pass: false, output: `${(h.last.stdout + h.last.stderr).trim()}\n--- appliance status\n${s.out}` } };
}

/** Step 2 (with `keptChanges`): the launch values back, restart: the changes made inside are still there. */
async function keptAcrossRestart(name: string, plan: DayTwoPlan, health: HealthCheck, unknown: boolean, kept: readonly KeptChange[]): Promise<DayTwoCheck[]> {
  const r = await restartHealthy(name, { ...plan.restore, ...(unknown ? { [plan.unknown]: 'x' } : {}) }, health, 'with the launch values');
  if (r.failed) return [r.failed];
  const checks: DayTwoCheck[] = unknown ? [unknownKeyCheck(plan, r.status)] : [];
  for (const k of kept) {
    const c = await execIn(name, k.check, 60_000);
    checks.push({ name: `day two: ${k.name} (kept across restarts, settings unchanged)`, pass: c.code === 0, output: c.code === 0 ? undefined : (c.stdout + c.stderr).trim() });
  }
  return checks;
}

/** Step 3: changed values (and the launch values back); healthy, each change seen by its check. */
async function changedValues(name: string, plan: DayTwoPlan, health: HealthCheck, unknown: boolean): Promise<DayTwoCheck[]> {
  const values: Record<string, string | undefined> = { ...plan.restore, ...(unknown ? { [plan.unknown]: 'x' } : {}) };
  for (const [ck, c] of Object.entries(plan.changes)) values[ck] = c.value;
  const r = await restartHealthy(name, values, health, 'with changed values');
  if (r.failed) return [r.failed];
  const checks: DayTwoCheck[] = unknown ? [unknownKeyCheck(plan, r.status)] : [];
  for (const [ck, c] of Object.entries(plan.changes)) {
    const x = await execIn(name, c.check, 60_000);
    const line = r.status.split('\n').find((l) => l.trimStart().startsWith(`${ck} `)) ?? '';
    const applied = /\bapplied\b/.test(line) && !/not applied/.test(line);
    const pass = x.code === 0 && applied;
    checks.push({
      name: `day two: ${ck}=${c.secret ? '********' : c.value} with incus config set + restart takes effect`,
      pass,
      output: pass ? undefined : `${x.code !== 0 ? `check exit ${x.code}: ${(x.stdout + x.stderr).trim()}\n` : ''}${applied ? '' : `status line: ${line}\n`}--- appliance status\n${r.status}`,
    });
  }
  return checks;
}

/**
 * Runs the day-two phase on the healthy instance `name` of `app`, launched with `launched`.
 * Restarts: one with bad values (when a setting is typed), one with the launch values (when
 * `keptChanges` are declared), one with the changed values.
 * @returns its checks; none when the appliance has no settings
 */
export async function dayTwo(app: Appliance, name: string, launched: Record<string, string>): Promise<DayTwoCheck[]> {
  if (!Object.keys(app.settings ?? {}).length) return [];
  const plan = dayTwoPlan(app, launched);
  const kept = app.keptChanges ?? [];
  for (const k of kept) {
    const r = await execIn(name, k.change, 60_000);
    if (r.code !== 0) return [{ name: `day two: ${k.name}: the change made inside`, pass: false, output: (r.stdout + r.stderr).trim() }];
  }
  const checks: DayTwoCheck[] = [];
  // The unknown key is checked once, at the first restart.
  let unknown = true;
  if (Object.keys(plan.bad).length) {
    checks.push(...(await badValues(app, name, plan)));
    unknown = false;
  }
  if (kept.length) {
    checks.push(...(await keptAcrossRestart(name, plan, app.health, unknown, kept)));
    unknown = false;
  }
  if (checks.some((c) => !c.pass)) return checks;
  checks.push(...(await changedValues(name, plan, app.health, unknown)));
  return checks;
}
