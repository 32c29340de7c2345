/**
 * Diagnostics and user errors: how problems are reported. A user mistake is never a stack trace.
 * @module
 */
import { relative } from 'node:path';

/** One located problem, printed as `path:line:col message`. */
export interface Diagnostic {
  /** File the problem is in (absolute or project-relative). */
  file: string;
  /** 1-based line, when known. */
  line?: number;
  /** 1-based column, when known. */
  column?: number;
  /** What is wrong, naming the field. */
  message: string;
  /** `error` fails the command; `warning` does not. */
  severity: 'error' | 'warning';
}

/** An error caused by the user's input: printed as a message, exit 1, no stack trace. */
export class UserError extends Error {
  constructor(message: string, readonly diagnostics: Diagnostic[] = []) {
    super(message);
    this.name = 'UserError';
  }
}

/** A target or argument names no appliance of the project: one message wherever names are resolved. */
export class UnknownApplianceError extends UserError {
  constructor(readonly appliance: string, known: readonly string[]) {
    super(`unknown appliance "${appliance}"; appliances: ${[...known].sort().join(', ') || '(none)'}`);
    this.name = 'UnknownApplianceError';
  }
}

/** Formats a diagnostic as `path:line:col severity: message`, path relative to `cwd`. */
export function formatDiagnostic(d: Diagnostic, cwd = process.cwd()): string {
  const rel = d.file.startsWith('/') ? relative(cwd, d.file) || d.file : d.file;
  const loc = d.line ? `${rel}:${d.line}:${d.column ?? 1}` : rel;
  return `${loc} ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`;
}

/** Sorts diagnostics by file, line, column for stable output. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) || a.message.localeCompare(b.message));
}
