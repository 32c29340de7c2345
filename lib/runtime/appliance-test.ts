/**
 * One appliance's end-to-end test: launch it from a remote with every setting set to its
 * example, wait for its declared health check, check that the boot did not wait for the network
 * unless the appliance says why (lib/runtime/network-wait.ts), run its declared tests, then day two on the same
 * container (bad values, changed values: lib/runtime/day2.ts), and always delete the container.
 * Used by the `test` verb.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Appliance, HealthCheck } from '../compile/model.ts';
import { settingConfigKey } from '../compile/settings.ts';
import { baseImageOf, deleteInstance, execIn, launch, showLog, type IncusResult } from '../incus/client.ts';
import type { SbomPackage } from '../trust/sbom.ts';
import { networkWaitCheck } from './network-wait.ts';

/** Outcome of testing one appliance. */
export interface ApplianceTestResult {
  name: string;
  pass: boolean;
  /** Seconds from the start of `incus launch` to the first passing health check. */
  launchToHealthySeconds?: number;
  /** Per check: name and whether it passed. */
  checks: Array<{ name: string; pass: boolean; output?: string }>;
  /** Why it failed, with diagnostics (health output, instance log, journal tail). */
  failure?: string;
}

/** Settings used by the test launch: each setting's `example`, else its default, else nothing. */
export function testSettings(app: Appliance): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, s] of Object.entries(app.settings ?? {})) {
    const v = s.example ?? s.default;
    if (v !== undefined) out[settingConfigKey(app.name, key)] = v;
  }
  return out;
}

/**
 * Prefix of the Incus objects `test` creates (containers, the remote): `APPLIANCE_TEST_PREFIX`
 * (letters, digits, `-`), so that several users of one Incus host each see their own.
 */
export function testPrefix(env: NodeJS.ProcessEnv = process.env): string {
  const p = env.APPLIANCE_TEST_PREFIX ?? '';
  return /^[a-z][a-z0-9-]{0,15}$/.test(p) ? p : '';
}

/** A unique, valid instance name for a test container. */
export function testInstanceName(app: string): string {
  return `${testPrefix()}appl-test-${app}-${randomBytes(3).toString('hex')}`.slice(0, 63);
}

/**
 * Seconds between health attempts when the appliance declares none: short, so that
 * launch-to-healthy measures the boot rather than the poll (one `incus exec` is ~50 ms).
 */
export const HEALTH_INTERVAL = 0.1;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the health check in container `name` until it passes or `health.timeout` seconds after
 * `started` (a `Date.now()` value) have passed, every `health.interval` seconds.
 * @returns whether it passed, and the last attempt's result
 */
export async function waitHealthy(name: string, health: HealthCheck, started: number, signal?: AbortSignal): Promise<{ healthy: boolean; last: IncusResult }> {
  const timeout = (health.timeout ?? 60) * 1000;
  const interval = (health.interval ?? HEALTH_INTERVAL) * 1000;
  let last: IncusResult = { code: -1, stdout: '', stderr: '' };
  while (Date.now() - started < timeout) {
    signal?.throwIfAborted();
    last = await execIn(name, health.command, 30_000);
    if (last.code === 0) return { healthy: true, last };
    await sleep(interval);
  }
  return { healthy: false, last };
}

/**
 * Containers of running tests, with their launch in flight: an interrupted run waits for the
 * launch to settle, then deletes the container (Ctrl-C).
 */
export const liveInstances = new Map<string, Promise<unknown>>();

/**
 * Fingerprints of the images the test containers were created from: Incus cached them from the
 * temporary remote, and the `test` verb removes them once the containers are gone.
 */
export const cachedImages = new Set<string>();

/** Deletes a test container, remembering the image it came from (see {@link cachedImages}). */
export async function deleteTestInstance(name: string): Promise<void> {
  const fp = await baseImageOf(name);
  if (fp) cachedImages.add(fp);
  await deleteInstance(name);
}

/**
 * Tests one appliance from `remote` (e.g. `appliance-test-1234`), logging progress lines.
 * The container is deleted in every case.
 */
export async function testAppliance(app: Appliance, remote: string, log: (line: string) => void, sbom?: SbomPackage[], opts: { dayTwo?: boolean } = {}): Promise<ApplianceTestResult> {
  const name = testInstanceName(app.name);
  const result: ApplianceTestResult = { name: app.name, pass: false, checks: [] };
  const timeout = (app.health?.timeout ?? 60) * 1000;
  const started = Date.now();
  try {
    log(`${app.name}: launching ${remote}:${app.name} as ${name}`);
    const launching = launch(`${remote}:${app.name}`, name, testSettings(app));
    liveInstances.set(name, launching.catch(() => undefined));
    await launching;
    const { healthy, last } = await waitHealthy(name, app.health, started);
    if (!healthy) {
      result.failure = `health check did not pass within ${timeout / 1000} s: \`${app.health.command}\` exit ${last.code}\n${(last.stdout + last.stderr).trim()}`;
      result.failure += await diagnostics(name, app);
      return result;
    }
    result.launchToHealthySeconds = (Date.now() - started) / 1000;
    log(`${app.name}: healthy after ${result.launchToHealthySeconds.toFixed(1)} s`);
    // Read right away: what the boot waited for, before the tests and day two restart anything.
    const wait = await networkWaitCheck(app, name);
    if (wait) {
      result.checks.push(wait);
      log(`${app.name}: ${wait.pass ? 'ok  ' : 'FAIL'} ${wait.name}${wait.pass ? '' : `\n${wait.output}`}`);
    }
    for (const t of app.tests ?? []) {
      const r = await execIn(name, t.command, 60_000);
      const pass = r.code === 0;
      result.checks.push({ name: t.name, pass, output: pass ? undefined : (r.stdout + r.stderr).trim() });
      log(`${app.name}: ${pass ? 'ok  ' : 'FAIL'} ${t.name}${pass ? '' : `\n${(r.stdout + r.stderr).trim()}`}`);
    }
    if (sbom) {
      const c = await sbomCheck(name, sbom);
      result.checks.push(c);
      log(`${app.name}: ${c.pass ? 'ok  ' : 'FAIL'} ${c.name}${c.pass ? '' : `\n${c.output}`}`);
    }
    // Day two on the same instance: bad values, changed values, unknown key (lib/runtime/day2.ts).
    if (opts.dayTwo !== false && result.checks.every((c) => c.pass)) {
      const { dayTwo } = await import('./day2.ts');
      const t0 = Date.now();
      const checks = await dayTwo(app, name, testSettings(app));
      for (const c of checks) {
        result.checks.push(c);
        log(`${app.name}: ${c.pass ? 'ok  ' : 'FAIL'} ${c.name}${c.pass ? '' : `\n${c.output}`}`);
      }
      if (checks.length) log(`${app.name}: day two took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const failed = result.checks.filter((c) => !c.pass);
    if (failed.length) {
      result.failure = `${failed.length} check(s) failed: ${failed.map((c) => c.name).join('; ')}` + (await diagnostics(name, app));
      return result;
    }
    result.pass = true;
    return result;
  } catch (e) {
    result.failure = (e as Error).message + (await diagnostics(name, app).catch(() => ''));
    return result;
  } finally {
    await deleteTestInstance(name);
    liveInstances.delete(name);
  }
}

/**
 * The image's SBOM against the running container: `dpkg -l | grep -c ^ii` counts the same
 * packages, and every installed (name, version, architecture) is listed, nothing more.
 */
export async function sbomCheck(name: string, sbom: SbomPackage[]): Promise<{ name: string; pass: boolean; output?: string }> {
  const label = `SBOM lists the ${sbom.length} installed packages (dpkg -l inside the container)`;
  if (!sbom.every((p) => p.purl.startsWith('pkg:deb/'))) return { name: 'SBOM (not a Debian image: not compared)', pass: true };
  const count = await execIn(name, 'dpkg -l | grep -c ^ii', 30_000);
  const list = await execIn(name, "dpkg-query -W -f='${db:Status-Status} ${Package} ${Version} ${Architecture}\\n'", 30_000);
  const installed = new Set(list.stdout.split('\n').filter((l) => l.startsWith('installed ')).map((l) => l.slice('installed '.length)));
  const listed = new Set(sbom.map((p) => `${p.name} ${p.version} ${p.arch}`));
  const missing = [...installed].filter((x) => !listed.has(x));
  const extra = [...listed].filter((x) => !installed.has(x));
  const n = Number(count.stdout.trim());
  const pass = count.code === 0 && n === sbom.length && !missing.length && !extra.length && installed.size === sbom.length;
  return pass ? { name: label, pass } : {
    name: label, pass,
    output: `dpkg -l counts ${count.stdout.trim() || `nothing (exit ${count.code})`}, the SBOM ${sbom.length}${missing.length ? `; not in the SBOM: ${missing.slice(0, 10).join(', ')}` : ''}${extra.length ? `; not installed: ${extra.slice(0, 10).join(', ')}` : ''}`,
  };
}

/** Instance log and the journal tail of the appliance's services, for a failure report. */
async function diagnostics(name: string, app: Appliance): Promise<string> {
  const parts = [`\n--- incus info --show-log ${name}\n${await showLog(name)}`];
  const units = [...(app.services ?? []), 'appliance-settings'];
  const journal = await execIn(name, `journalctl --no-pager -n 40 ${units.map((u) => `-u ${u}`).join(' ')} 2>/dev/null || tail -n 40 /var/log/messages 2>/dev/null`, 30_000);
  parts.push(`--- service journal (last 40 lines)\n${(journal.stdout + journal.stderr).trim()}`);
  return parts.join('\n');
}
