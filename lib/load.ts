/**
 * Loading appliances: discover `appliances/<name>/appliance.ts` and import them.
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Appliance, ApplianceSpec } from './model.ts';
import { UserError } from './diagnostics.ts';

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
 * Imports one appliance module and checks it exports a definition object. Never throws:
 * import failures (syntax errors, throwing code) come back as a message naming the file.
 */
export async function loadAppliance(appliancesDir: string, name: string): Promise<LoadResult> {
  const dir = resolve(appliancesDir, name);
  const file = join(dir, 'appliance.ts');
  let mod: { default?: unknown; variants?: Record<string, ApplianceSpec> };
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    const err = e as Error;
    const text = String(err?.message ?? err);
    // esbuild (through tsx) reports syntax errors as "<file>:<line>:<col>: ERROR: <message>".
    const syntax = text.match(/:(\d+):(\d+): ERROR: (.+)/);
    if (syntax) return { ok: false, file, line: Number(syntax[1]), column: Number(syntax[2]) + 1, message: `syntax error: ${syntax[3]}` };
    return { ok: false, file, message: `cannot load module: ${text.split('\n')[0]}` };
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
 * Loads the named appliances (all when `names` is empty). Throws a {@link UserError} listing
 * every module that failed to load, or naming an unknown appliance with the list of known ones.
 */
export async function loadAppliances(appliancesDir: string, names: string[] = []): Promise<Appliance[]> {
  const known = discoverAppliances(appliancesDir);
  for (const n of names) {
    if (!known.includes(n)) throw new UserError(`unknown appliance "${n}"; appliances: ${known.join(', ') || '(none)'}`);
  }
  const wanted = names.length ? [...new Set(names)] : known;
  const results = await Promise.all(wanted.map((n) => loadAppliance(appliancesDir, n)));
  const failures = results.filter((r): r is Extract<LoadResult, { ok: false }> => !r.ok);
  if (failures.length) {
    throw new UserError(
      `${failures.length} appliance module(s) failed to load`,
      failures.map((f) => ({ file: f.file, message: f.message, severity: 'error' as const })),
    );
  }
  return results.map((r) => (r as Extract<LoadResult, { ok: true }>).appliance);
}
