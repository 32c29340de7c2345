/**
 * The gate: the one check every verb runs on an appliance before anything is compiled, built or
 * written (`validate`, `compile`, `build` and its planner's slow path, `test`, `profile`, `list`,
 * `prune`). It turns what {@link checkAppliance} finds and what failed at import into located
 * diagnostics (`path:line:col message`), the same for every verb.
 *
 * Cheap when all is well: the semantic checks are plain code; ts-morph (~300 ms) is imported
 * only to locate problems, so a healthy appliance never pays for it.
 * @module
 */
import type { Diagnostic } from '../diagnostics.ts';
import type { LoadResult } from '../compile/load.ts';
import type { Appliance } from '../compile/model.ts';
import { checkAppliance, type FieldProblem } from './semantic.ts';

/** A problem of a module, located by field path. */
export interface ModuleProblem extends FieldProblem {
  module: string;
}

/** The diagnostic of a module that failed to load (located where the failure is). */
export function loadDiagnostic(r: Extract<LoadResult, { ok: false }>): Diagnostic {
  return { file: r.file, line: r.line ?? 1, column: r.column ?? 1, message: r.message, severity: 'error' };
}

/** Field problems of an appliance and its variants (variants: errors only, labelled). */
export function applianceProblems(app: Appliance, variants: Record<string, Appliance> = {}): ModuleProblem[] {
  const own = checkAppliance(app).map((p) => ({ ...p, module: app.module }));
  // A variant shares most fields with the published appliance: say each problem once.
  const said = new Set(own.map((p) => `${p.field}\0${p.message}`));
  return [
    ...own,
    ...Object.entries(variants).flatMap(([k, v]) => checkAppliance(v)
      .filter((p) => p.severity === 'error' && !said.has(`${p.field}\0${p.message}`))
      .map((p) => ({ ...p, message: `variant ${app.name}[${k}]: ${p.message}`, module: v.module }))),
  ];
}

/**
 * Locates field problems in their modules' source. `locate` may be given by a caller that
 * already holds a ts-morph project (validate); otherwise one is made, only if there is a problem.
 */
export async function locateProblems(problems: ModuleProblem[], locate?: (module: string, field: string) => { line: number; column: number }): Promise<Diagnostic[]> {
  if (!problems.length) return [];
  if (!locate) {
    const { createAstProject, locateField } = await import('./typecheck.ts');
    const project = createAstProject([...new Set(problems.map((p) => p.module))]);
    locate = (module, field) => locateField(project.getSourceFileOrThrow(module), field);
  }
  return problems.map((p) => ({ file: p.module, ...locate!(p.module, p.field), message: p.message, severity: p.severity }));
}

/** The located errors (warnings left out) of one loaded appliance: empty when it may be built. */
export async function gateErrors(app: Appliance, variants: Record<string, Appliance> = {}): Promise<Diagnostic[]> {
  return locateProblems(applianceProblems(app, variants).filter((p) => p.severity === 'error'));
}
