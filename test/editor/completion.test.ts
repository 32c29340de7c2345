/**
 * Editor support, proven with the TypeScript language service (through ts-morph): inside
 * `defineAppliance({ ... })` in a scratch appliance file, completions offer the model's fields
 * with their documentation, hovering explains a field, and a misspelled field is a type error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { ts } from 'ts-morph';
import { createProject } from '../../lib/validate/typecheck.ts';
import { ROOT } from '../helpers.ts';

const file = join(ROOT, 'appliances', 'scratch-editor', 'appliance.ts');
const before = `import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

export default defineAppliance({
  name: 'scratch-editor',
  `;
const after = `
});
`;
const project = createProject([]);
const sf = project.createSourceFile(file, before + after, { overwrite: true });
const ls = project.getLanguageService().compilerObject;
const pos = before.length;

test('completions inside defineAppliance({ ... }) offer the model fields', () => {
  const c = ls.getCompletionsAtPosition(sf.getFilePath(), pos, {});
  assert.ok(c, 'no completions');
  const names = c!.entries.map((e) => e.name);
  for (const f of ['version', 'description', 'base', 'architectures', 'packages', 'services', 'files', 'actions', 'ports', 'volumes', 'settings', 'health', 'raw']) {
    assert.ok(names.includes(f), `missing completion ${f}: ${names.join(', ')}`);
  }
});

test('completion entries carry documentation', () => {
  const details = ls.getCompletionEntryDetails(sf.getFilePath(), pos, 'settings', {}, undefined, undefined, undefined);
  const doc = ts.displayPartsToString(details?.documentation);
  assert.match(doc, /user\.<name>\.password|Launch-time settings/);
  const health = ls.getCompletionEntryDetails(sf.getFilePath(), pos, 'health', {}, undefined, undefined, undefined);
  assert.match(ts.displayPartsToString(health?.documentation), /healthy/);
});

test('architectures complete to the literal union', () => {
  const text = `${before}architectures: ['']${after}`;
  const f2 = project.createSourceFile(file, text, { overwrite: true });
  const at = text.indexOf(`['']`) + 2;
  const c = ls.getCompletionsAtPosition(f2.getFilePath(), at, {});
  const names = c!.entries.map((e) => e.name).sort();
  assert.equal(names, ['amd64', 'arm64']);
});

test('hover on a distrobuilder field shows its @default', () => {
  const text = `import type { DefinitionImage } from '../../lib/distrobuilder/definition.ts';\nconst i: DefinitionImage = { distribution: 'debian', expiry: '30d' };\n`;
  const f3 = project.createSourceFile(file, text, { overwrite: true });
  const info = ls.getQuickInfoAtPosition(f3.getFilePath(), text.indexOf('expiry'));
  const tags = (info?.tags ?? []).map((t) => `${t.name} ${ts.displayPartsToString(t.text)}`);
  assert.ok(tags.some((t) => t.includes('default') && t.includes('30d')), JSON.stringify(tags));
});

test('architectures stay literal: the type of a definition names exactly the architectures it declares', () => {
  // One architecture, so a widened type (`Arch`, both) cannot pass for a literal one.
  const text = `${before}version: '1', description: 'd', base: debian(), architectures: ['arm64'], health: { command: 'true' },${after}`;
  const f4 = project.createSourceFile(file, text.replace('export default', 'const spec ='), { overwrite: true });
  const decl = f4.getVariableDeclarationOrThrow('spec');
  assert.match(decl.getType().getText(decl), /ApplianceSpec<"arm64">$/);
  const archs = f4.getVariableDeclarationOrThrow('spec').getType().getPropertyOrThrow('architectures');
  assert.is(archs.getTypeAtLocation(decl).getText(decl), 'readonly "arm64"[]');
});

test('a misspelled field is a type error', () => {
  const text = `${before}version: '1', description: 'd', base: debian(), architectures: ['amd64'], health: { command: 'true' }, pakages: ['nginx'],${after}`;
  const f5 = project.createSourceFile(file, text, { overwrite: true });
  const diags = f5.getPreEmitDiagnostics().map((d) => ts.flattenDiagnosticMessageText(d.getMessageText() as string, ' '));
  assert.ok(diags.some((d) => /pakages/.test(d) && /does not exist|Did you mean/.test(d)), diags.join('\n'));
});

test.run();
