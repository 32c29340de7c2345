/**
 * The command line of `new`, checked before anything is written: every problem is reported at
 * once, naming the flag and the value.
 * @module
 */
import { UserError } from '../diagnostics.ts';
import type { ScaffoldOptions } from './render.ts';

/** An appliance name: an image alias segment (the gate's rule). */
const NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A Debian package name (Debian Policy 5.6.7), without a version. */
const PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]+$/;
/** A systemd service name without the `.service` suffix, optionally a template instance. */
const SERVICE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*(?:@[A-Za-z0-9_.:-]+)?$/;

/** Why `name` cannot name a new appliance, or undefined. */
export function nameProblem(name: string, verbs: readonly string[]): string | undefined {
  if (!NAME_RE.test(name)) return `"${name}" is not usable as an appliance name: lower-case letters, digits and inner dashes, at most 63 characters (it is the image alias and the folder name)`;
  if (verbs.includes(name)) return `"${name}" is a verb of build.ts: \`npx tsx build.ts ${name}\` could not build it; choose another name`;
  return undefined;
}

/** Why `value` of `--package` is not a Debian package name, or undefined. */
export function packageProblem(value: string): string | undefined {
  if (PACKAGE_RE.test(value)) return undefined;
  const hint = value.includes('=') ? ' (give the name only, without a version)' : '';
  return `--package: "${value}" is not a Debian package name: lower-case letters, digits and + - ., at least two characters, starting with a letter or digit${hint}`;
}

/** The port of `--port`, or why it is not one. */
export function parsePort(value: string): number | string {
  const n = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
  if (n >= 1 && n <= 65535) return n;
  return `--port: "${value}" is not a TCP port: a whole number from 1 to 65535`;
}

/** The service of `--service` (`.service` suffix dropped), or why it is not one. */
export function parseService(value: string): { service: string } | { problem: string } {
  const service = value.replace(/\.service$/, '');
  if (SERVICE_RE.test(service)) return { service };
  return { problem: `--service: "${value}" is not a systemd service name (letters, digits, _ . : - and an optional @instance)` };
}

/**
 * The scaffold options of `new <name> --package P... --port N [--service S]`.
 * @param verbs names of the verbs of build.ts (an appliance may not be called like one)
 * @throws UserError listing every problem of the command line
 */
export function scaffoldOptions(name: string, options: { package: string[]; port?: string; service?: string }, verbs: readonly string[]): ScaffoldOptions {
  const problems: string[] = [];
  const np = nameProblem(name, verbs);
  if (np) problems.push(np);
  const packages = options.package;
  if (!packages.length) problems.push('--package: missing: the Debian package of the service, e.g. --package lighttpd');
  for (const p of packages) {
    const pp = packageProblem(p);
    if (pp) problems.push(pp);
  }
  let port = 0;
  if (options.port === undefined) problems.push('--port: missing: the TCP port the service listens on, e.g. --port 80');
  else {
    const r = parsePort(options.port);
    if (typeof r === 'string') problems.push(r);
    else port = r;
  }
  let service = packages[0] ?? '';
  if (options.service !== undefined) {
    const r = parseService(options.service);
    if ('problem' in r) problems.push(r.problem);
    else service = r.service;
  } else if (packages[0] && !SERVICE_RE.test(packages[0])) {
    problems.push(`--service: needed: "${packages[0]}" is not a systemd service name`);
  }
  if (problems.length) throw new UserError(`new ${name}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  return { name, packages: [...new Set(packages)], port, service };
}
