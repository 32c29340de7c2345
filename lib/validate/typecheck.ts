/**
 * Type checking and source locations with ts-morph. Only `validate` (and the editor tests) load
 * this module: importing ts-morph costs ~300 ms, so it stays off the build's no-op path.
 * @module
 */
import { fileURLToPath } from 'node:url';
import { Node, Project, ts, type SourceFile } from 'ts-morph';
import type { Diagnostic } from '../diagnostics.ts';

/** The project's tsconfig.json: `validate` checks appliances with the options `tsc` uses. */
const TSCONFIG = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));

/** A ts-morph project holding the given files (their imports resolve on demand). */
export function createProject(files: string[]): Project {
  const project = new Project({ tsConfigFilePath: TSCONFIG, skipAddingFilesFromTsConfig: true });
  for (const f of files) project.addSourceFileAtPath(f);
  return project;
}

/**
 * A project for locating fields only: syntax trees of the given files, no imports resolved, no
 * type information (several times cheaper than {@link createProject}).
 */
export function createAstProject(files: string[]): Project {
  const project = new Project({ compilerOptions: { noLib: true }, skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, skipLoadingLibFiles: true });
  for (const f of files) project.addSourceFileAtPath(f);
  return project;
}

/** TypeScript errors of the given files, as located diagnostics. */
export function typeErrors(project: Project, files: string[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const f of files) {
    const sf = project.getSourceFileOrThrow(f);
    for (const d of sf.getPreEmitDiagnostics()) {
      const dsf = d.getSourceFile();
      if (!dsf || dsf.getFilePath() !== sf.getFilePath()) continue;
      const start = d.getStart() ?? 0;
      const { line, column } = dsf.getLineAndColumnAtPos(start);
      // The compiler's own message (ts-morph wraps a chain in a class the flattener does not read: "undefined").
      const text = ts.flattenDiagnosticMessageText(d.compilerObject.messageText, ' ');
      out.push({ file: f, line, column, message: `TS${d.getCode()}: ${text}`, severity: d.getCategory() === ts.DiagnosticCategory.Error ? 'error' : 'warning' });
    }
  }
  return out;
}

/** The object literal passed to `defineAppliance(...)` (or the default export), if inline. */
function definitionObject(sf: SourceFile): Node | undefined {
  for (const call of sf.getDescendantsOfKind(ts.SyntaxKind.CallExpression)) {
    if (call.getExpression().getText() === 'defineAppliance') {
      const arg = call.getArguments()[0];
      return arg ?? call;
    }
  }
  const exp = sf.getDefaultExportSymbol()?.getDeclarations()[0];
  return exp;
}

/**
 * Line and column of a field path such as `files[2].source` inside the appliance definition;
 * the deepest part of the path found wins, then the defineAppliance call, then 1:1.
 */
export function locateField(sf: SourceFile, field: string): { line: number; column: number } {
  let node = definitionObject(sf);
  if (!node) return { line: 1, column: 1 };
  // `files[2].source`, `settings["tls.cert"].default`: a quoted key may hold dots.
  const parts = [...field.matchAll(/\[("(?:[^"\\]|\\.)*")\]|([^.[\]]+)/g)].map((m) => (m[1] ? (JSON.parse(m[1]) as string) : m[2]));
  for (const part of parts) {
    let next: Node | undefined;
    if (Node.isObjectLiteralExpression(node)) {
      const prop: Node | undefined = node.getProperty(part) ?? node.getProperty(`'${part}'`) ?? node.getProperty(`"${part}"`) ?? node.getProperties().find((q) => Node.isPropertyAssignment(q) && q.getNameNode().getText().slice(1, -1) === part);
      if (prop && Node.isPropertyAssignment(prop)) next = prop.getInitializer() ?? prop;
      else if (prop) next = prop;
    } else if (Node.isArrayLiteralExpression(node) && /^\d+$/.test(part)) {
      next = node.getElements()[Number(part)];
    }
    if (!next) break;
    // Point at the property name when the path ends on a property.
    node = next;
  }
  const target = node.getParent() && Node.isPropertyAssignment(node.getParent()!) ? node.getParent()! : node;
  const { line, column } = sf.getLineAndColumnAtPos(target.getStart());
  return { line, column };
}
