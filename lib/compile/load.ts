/**
 * Loading appliances: discover `appliances/<name>/appliance.ts` and import them.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Appliance, ApplianceSpec } from './model.ts';
import { UnknownApplianceError, UserError, type Diagnostic } from '../diagnostics.ts';

/** Folder names under appliances/ that are not appliances. */
const NOT_APPLIANCES = new Set(['_base']);

/** Names of the appliance folders (those with an appliance.ts), sorted. */
export function discoverAppliances(appliancesDir: string): string[] {
  if (!existsSync(appliancesDir)) throw new UserError(`${appliancesDir}: no appliances folder`);
  return readdirSync(appliancesDir)
    .filter((n) => !n.startsWith('.') && !NOT_APPLIANCES.has(n))
    .filter((n) => statSync(join(appliancesDir, n)).isDirectory() && existsSync(join(appliancesDir, n, 'appliance.ts')))
    .sort();
}

/** Result of importing one appliance module. */
export type LoadResult = { ok: true; appliance: Appliance; variants: Record<string, Appliance> } | { ok: false; file: string; message: string; line?: number; column?: number };

/**
 * Imports one appliance module (under the import time limit, see `validate/deadline.ts`) and
 * checks it exports a definition object. Never throws: import failures (syntax errors, throwing
 * code, missing modules, a time-out) come back as a message located in the module.
 */
export async function loadAppliance(appliancesDir: string, name: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const dir = resolve(appliancesDir, name);
  const file = join(dir, 'appliance.ts');
  let mod: { default?: unknown; variants?: Record<string, ApplianceSpec> };
  // Loaded here: the build's no-op path imports no appliance, so it never starts the watchdog.
  const { withDeadline, importTimeoutMs, timeoutMessage, ImportTimeout } = await import('../validate/deadline.ts');
  const ms = importTimeoutMs(env);
  try {
    mod = await withDeadline(() => import(pathToFileURL(file).href), ms, `${relative(process.cwd(), file) || file}: ${timeoutMessage(ms)}`, name);
  } catch (e) {
    if (e instanceof ImportTimeout) return { ok: false, file, message: e.message };
    const { importProblem } = await import('../validate/import-error.ts');
    return { ok: false, ...importProblem(e, file, resolve(appliancesDir)) };
  }
  const spec = mod.default as ApplianceSpec | undefined;
  if (!spec || typeof spec !== 'object') {
    return { ok: false, file, message: 'no default export: write `export default defineAppliance({ ... })`' };
  }
  if (!spec.base || typeof spec.base !== 'object' || typeof spec.base.source !== 'function') {
    return { ok: false, file, message: 'base: missing or not a base layer (use debian() or alpine() from ../_base/)' };
  }
  // `export const variants = { alpine: ... }`: the same appliance on other bases, validated
  // and tested but not published.
  const variants: Record<string, Appliance> = {};
  for (const [k, v] of Object.entries(mod.variants ?? {})) {
    if (v && typeof v === 'object' && v.base && typeof v.base.source === 'function') variants[k] = { ...v, dir, module: file };
  }
  return { ok: true, appliance: { ...spec, dir, module: file }, variants };
}

/**
 * Loads the named appliances (all when `names` is empty) and passes each through the gate
 * (`validate/gate.ts`): the checks `validate` runs. Throws a {@link UserError} with a located
 * diagnostic for every module that failed to load or is refused, or naming an unknown appliance
 * with the list of known ones.
 */
export async function loadAppliances(appliancesDir: string, names: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<Appliance[]> {
  const known = discoverAppliances(appliancesDir);
  for (const n of names) {
    if (!known.includes(n)) throw new UnknownApplianceError(n, known);
  }
  const wanted = names.length ? [...new Set(names)] : known;
  const results = await Promise.all(wanted.map((n) => loadAppliance(appliancesDir, n, env)));
  const { loadDiagnostic, gateErrors } = await import('../validate/gate.ts');
  const diags: Diagnostic[] = [];
  for (const r of results) diags.push(...(r.ok ? await gateErrors(r.appliance, r.variants) : [loadDiagnostic(r)]));
  if (diags.length) {
    const bad = new Set(diags.map((d) => d.file)).size;
    throw new UserError(`${bad} appliance module(s) refused: fix the errors above (\`npx tsx build.ts validate\` checks them all)`, diags);
  }
  return results.map((r) => (r as Extract<LoadResult, { ok: true }>).appliance);
}
