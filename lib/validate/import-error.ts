/**
 * Where an appliance module failed at import: esbuild's `file:line:col: ERROR:` for a syntax
 * error, the stack frame in the appliances folder for a throw (tsx maps it back to the source),
 * the import statement for a missing module.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A located import failure. */
export interface ImportProblem {
  file: string;
  line?: number;
  column?: number;
  message: string;
}

/** Line and column (1-based) of the first occurrence of `needle` in `file`, if any. */
function findInFile(file: string, needle: string): { line: number; column: number } | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const c = lines[i].indexOf(needle);
    if (c >= 0) return { line: i + 1, column: c + 1 };
  }
  return undefined;
}

/** The first stack frame inside `appliancesDir` (the module itself preferred). */
function frameIn(stack: string, module: string, appliancesDir: string): { file: string; line: number; column: number } | undefined {
  const frames = [...stack.matchAll(/\(?((?:file:\/\/)?\/[^():\s]+\.[cm]?[jt]s):(\d+):(\d+)\)?/g)].map((m) => ({
    file: m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1],
    line: Number(m[2]),
    column: Number(m[3]),
  }));
  const inside = frames.filter((f) => !relative(appliancesDir, f.file).startsWith('..'));
  return inside.find((f) => f.file === module) ?? inside[0];
}

/** Turns what `import()` threw into a located problem of `module`. */
export function importProblem(e: unknown, module: string, appliancesDir: string): ImportProblem {
  const err = e as Error & { code?: string };
  const text = String(err?.message ?? err);
  // esbuild (through tsx): "<file>:<line>:<col>: ERROR: <message>", col 0-based.
  const syntax = text.match(/(\/[^\s:]+):(\d+):(\d+): ERROR: (.+)/);
  if (syntax) return { file: syntax[1], line: Number(syntax[2]), column: Number(syntax[3]) + 1, message: `syntax error: ${syntax[4]}` };
  if (err?.code === 'ERR_MODULE_NOT_FOUND') {
    // "Cannot find module '/abs/x.ts' imported from /abs/appliance.ts" (or "package 'x'").
    const m = text.match(/Cannot find (?:module|package) '([^']+)' imported from (\S+)/);
    if (m) {
      const from = m[2];
      const spec = m[1].startsWith('/') ? relative(dirname(from), m[1]) : m[1];
      const at = findInFile(from, `'${spec.startsWith('.') ? spec : `./${spec}`}'`) ?? findInFile(from, spec.replace(/^\.\//, ''));
      return { file: from, ...at, message: `cannot load module: cannot find ${spec.startsWith('.') || spec.startsWith('/') ? spec : `./${spec}`}` };
    }
  }
  const frame = frameIn(String(err?.stack ?? ''), module, appliancesDir);
  const first = text.split('\n')[0];
  if (frame) return { file: frame.file, line: frame.line, column: frame.column, message: `cannot load module: ${first}` };
  return { file: module, message: `cannot load module: ${first}` };
}
