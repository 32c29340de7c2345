/**
 * `validate [name...]`: type errors (ts-morph), semantic errors, and `distrobuilder validate`
 * of every compiled YAML when distrobuilder is installed. Exit 1 on any error.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineVerb, opt } from '../cli.ts';
import { compile, CompileError, type Layers } from '../compile/compile.ts';
import { toYaml } from '../compile/yaml.ts';
import { compileContext } from '../compile/context.ts';
import { formatDiagnostic, sortDiagnostics, UnknownApplianceError, type Diagnostic } from '../diagnostics.ts';
import { discoverAppliances, loadAppliance } from '../compile/load.ts';
import type { Appliance } from '../compile/model.ts';
import { checkDuplicates } from '../validate/semantic.ts';
import { applianceProblems, loadDiagnostic, locateProblems, type ModuleProblem } from '../validate/gate.ts';
import { distrobuilderValidate, distrobuilderVersion } from '../validate/distrobuilder.ts';

/** The YAML of each layer of a compiled target (the parent's location stays a placeholder). */
function layerYamls(l: Layers): Array<{ layer: string; yaml: string }> {
  return (['base', 'packages', 'image'] as const).flatMap((k) => (l[k] ? [{ layer: k, yaml: toYaml(l[k]) }] : []));
}

export const validateVerb = defineVerb({
  name: 'validate',
  summary: 'type-check and validate appliances (and run `distrobuilder validate` when installed)',
  usage: 'validate [name...] [--no-distrobuilder]',
  options: {
    'no-distrobuilder': opt.boolean({ description: 'skip `distrobuilder validate` even when it is installed' }),
  },
  examples: ['npx tsx build.ts validate', 'npx tsx build.ts validate nginx postgres'],
  async run(ctx) {
    const known = discoverAppliances(ctx.appliancesDir);
    for (const n of ctx.args) {
      if (!known.includes(n)) throw new UnknownApplianceError(n, known);
    }
    const names = ctx.args.length ? [...new Set(ctx.args)] : known;
    const modules = names.map((n) => join(ctx.appliancesDir, n, 'appliance.ts'));
    const baseDir = join(ctx.appliancesDir, '_base');
    const bases = existsSync(baseDir) ? readdirSync(baseDir).filter((f) => f.endsWith('.ts')).map((f) => join(baseDir, f)) : [];
    const diags: Diagnostic[] = [];

    // 1. Types, with ts-morph (loaded lazily: it is slow to import).
    const { createProject, typeErrors, locateField } = await import('../validate/typecheck.ts');
    const project = createProject([...modules, ...bases]);
    diags.push(...typeErrors(project, [...modules, ...bases]));

    // 2. Import each module (under the time limit); a failing import is one located error.
    const apps: Appliance[] = [];
    const variants: Array<{ label: string; app: Appliance }> = [];
    const problems: ModuleProblem[] = [];
    for (const n of names) {
      const r = await loadAppliance(ctx.appliancesDir, n, ctx.env);
      if (!r.ok) { diags.push(loadDiagnostic(r)); continue; }
      apps.push(r.appliance);
      for (const [k, v] of Object.entries(r.variants)) variants.push({ label: `${n}[${k}]`, app: v });
      // 3. The gate's checks (the same every verb runs), located through the AST.
      problems.push(...applianceProblems(r.appliance, r.variants));
    }
    const locate = (module: string, field: string) => locateField(project.getSourceFileOrThrow(module), field);
    diags.push(...await locateProblems([...problems, ...checkDuplicates(apps)], locate));

    // 4. Compile every target of the appliances without errors; distrobuilder validate them.
    const failed = new Set(diags.filter((d) => d.severity === 'error').map((d) => d.file));
    const bctx = compileContext({ debianMirror: ctx.options['debian-mirror'], alpineMirror: ctx.options['alpine-mirror'] }, ctx.env);
    const compiled: Array<{ app: Appliance; target: string; yaml: string; layers: Array<{ layer: string; yaml: string }> }> = [];
    const all = [...apps.map((a) => ({ label: a.name, app: a })), ...variants];
    for (const { label, app: a } of all) {
      if (failed.has(a.module)) continue;
      for (const arch of a.architectures) {
        try {
          const c = compile(a, arch, bctx);
          compiled.push({ app: a, target: `${label}:${arch}`, yaml: c.yaml, layers: layerYamls(c.layers) });
        } catch (e) {
          if (!(e instanceof CompileError)) throw e;
          diags.push({ file: a.module, ...locate(a.module, e.field ?? ''), message: `${label}:${arch}: ${e.message}`, severity: 'error' });
        }
      }
    }
    let dbNote = '';
    if (!ctx.options['no-distrobuilder'] && compiled.length) {
      const version = await distrobuilderVersion(ctx.env);
      if (version) {
        // Each target as one definition and as the layers the build graph runs; a few at a time.
        const { default: PQueue } = await import('p-queue');
        const queue = new PQueue({ concurrency: 4 });
        const jobs = compiled.flatMap((c) => [{ c, what: c.target, yaml: c.yaml }, ...c.layers.map((l) => ({ c, what: `${c.target} (${l.layer} layer)`, yaml: l.yaml }))]);
        const results = await Promise.all(jobs.map((j) => queue.add(async () => ({ ...j, error: await distrobuilderValidate(j.yaml, ctx.env) }))));
        for (const { c, what, error } of results) {
          if (error) diags.push({ file: c.app.module, ...locate(c.app.module, ''), message: `distrobuilder validate ${what}: ${error}`, severity: 'error' });
        }
        dbNote = `, distrobuilder ${version} validated ${jobs.length} definition(s) (targets and their layers)`;
      } else {
        dbNote = ', distrobuilder not installed: `distrobuilder validate` skipped';
      }
    }

    const sorted = sortDiagnostics(diags);
    for (const d of sorted) ctx.stderr(formatDiagnostic(d, ctx.root) + '\n');
    const errors = sorted.filter((d) => d.severity === 'error').length;
    const warnings = sorted.length - errors;
    const summary = `${names.length} appliance(s), ${compiled.length} target(s) compiled: ${errors} error(s), ${warnings} warning(s)${dbNote}\n`;
    if (errors) {
      ctx.stderr(`error: validation failed: ${summary}`);
      return 1;
    }
    ctx.stdout(`ok: ${summary}`);
    return 0;
  },
});
