/**
 * Shared test helpers: running build.ts in-process or as a child, scratch projects.
 * @module
 */
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { main } from '../lib/cli.ts';
import { VERBS } from '../lib/verbs/index.ts';

/** The project root. */
export const ROOT = join(import.meta.dirname, '..');

/** A fixed Debian mirror for tests: golden files never depend on the host. */
export const TEST_MIRROR = 'http://mirror.example/debian';

/** Environment for deterministic tests. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, APPLIANCE_DEBIAN_MIRROR: TEST_MIRROR, APPLIANCE_ALPINE_MIRROR: '', NO_COLOR: '1', ...extra };
}

/** Runs the CLI in-process; returns exit code and captured output. */
export async function runCli(argv: string[], opts: { root?: string; env?: NodeJS.ProcessEnv } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, VERBS, {
    root: opts.root ?? ROOT,
    env: opts.env ?? testEnv(),
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
  });
  return { code, stdout, stderr };
}

/** Runs `node --import tsx build.ts ...` as a user would (a child process). */
export async function runBuildTs(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; script?: string } = {}) {
  const script = opts.script ?? join(opts.cwd ?? ROOT, 'build.ts');
  const r = await execa(process.execPath, ['--import', 'tsx', script, ...argv], {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? testEnv(),
    reject: false,
    all: true,
    stripFinalNewline: false,
  });
  return { code: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr), all: String(r.all) };
}

/**
 * A scratch copy of the project (build.ts, lib/, appliances/, tsconfig.json) with
 * node_modules symlinked, for tests that edit appliances. Remove it with the returned cleanup.
 */
export function scratchProject(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'appliance-project-'));
  for (const p of ['build.ts', 'lib', 'appliances', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
