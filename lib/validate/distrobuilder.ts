/**
 * `distrobuilder validate` on compiled YAML, when distrobuilder is installed.
 * @module
 */
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distrobuilderName } from '../graph/toolchain.ts';


/** Prefix for privileged commands: none as root, `sudo` otherwise. */
export function privilegePrefix(): string[] {
  return process.getuid && process.getuid() !== 0 ? ['sudo', '-n'] : [];
}

/** distrobuilder's version (e.g. "3.2"), or undefined when it is not installed. */
export async function distrobuilderVersion(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  try {
    const r = await execa(distrobuilderName(env), ['--version'], { reject: false, timeout: 20_000 });
    if (r.exitCode !== 0) return undefined;
    return String(r.stdout).trim().split(/\s+/).pop();
  } catch {
    return undefined;
  }
}

/** Runs `distrobuilder validate` on one YAML text; returns undefined when valid, else the error. */
export async function distrobuilderValidate(yaml: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'appliance-validate-'));
  try {
    const file = join(dir, 'definition.yaml');
    writeFileSync(file, yaml);
    const [cmd, ...pre] = [...privilegePrefix(), distrobuilderName(env)];
    const r = await execa(cmd, [...pre, 'validate', file], { reject: false, all: true, timeout: 60_000 });
    if (r.exitCode === 0) return undefined;
    const lines = String(r.all ?? '').split('\n').map((l) => l.replace(/^.*level=\w+ msg=/, '').trim()).filter(Boolean);
    return lines.filter((l) => /error/i.test(l)).slice(-3).join('; ') || lines.slice(-3).join('; ') || `exit code ${r.exitCode}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
