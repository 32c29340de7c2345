/**
 * A fake distrobuilder for registry tests: tiny but REAL images (an xz metadata tarball with a
 * valid metadata.yaml and templates/, and a squashfs made by mksquashfs), unique per call.
 * @module
 */
import type { Test } from 'uvu';
import { randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { BuiltImage } from '../../lib/registry/api.ts';
import type { Arch } from '../../lib/compile/model.ts';

let counter = 0;

/** A scratch folder removed by the returned cleanup. */
export function scratch(prefix = 'registry-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Options of {@link fakeImage}. */
export interface FakeImageOptions {
  name?: string;
  version?: string;
  arch?: Arch;
  builtAt?: Date;
  /** Random bytes in the rootfs (incompressible), to make bigger images. @default 0 */
  payloadBytes?: number;
}

/** Builds one fake image in `dir` (a fresh subfolder) and returns it as the build stage would. */
export async function fakeImage(dir: string, o: FakeImageOptions = {}): Promise<BuiltImage> {
  const n = ++counter;
  const name = o.name ?? 'nginx';
  const version = o.version ?? '1.26';
  const arch = o.arch ?? 'amd64';
  const builtAt = o.builtAt ?? new Date(Date.UTC(2026, 10, 26, 14, 5, 0));
  const out = join(dir, `build-${process.pid}-${n}-${name}-${arch}`);
  const meta = join(out, 'meta');
  const root = join(out, 'rootfs');
  mkdirSync(join(meta, 'templates'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  const created = Math.floor(builtAt.getTime() / 1000);
  writeFileSync(join(meta, 'metadata.yaml'), `architecture: ${arch === 'amd64' ? 'x86_64' : 'aarch64'}
creation_date: ${created}
properties:
  architecture: ${arch}
  description: ${name} ${version} (fake ${n})
  name: ${name}-${arch}-${n}
  os: debian
  release: trixie
  variant: default
templates:
  /etc/hostname:
    when:
    - create
    - copy
    template: hostname.tpl
`);
  writeFileSync(join(meta, 'templates', 'hostname.tpl'), '{{ instance.name }}\n');
  writeFileSync(join(root, 'etc', 'hostname'), `${name}\n`);
  writeFileSync(join(root, 'etc', 'os-release'), `NAME="fake ${name}"\nID=debian\nBUILD_ID=${process.pid}-${n}-${Date.now()}\n`);
  if (o.payloadBytes) writeFileSync(join(root, 'payload.bin'), randomFillSync(Buffer.alloc(o.payloadBytes)));
  const metadataPath = join(out, 'incus.tar.xz');
  const rootfsPath = join(out, 'rootfs.squashfs');
  await execa('tar', ['-cJf', metadataPath, '-C', meta, 'metadata.yaml', 'templates']);
  await execa('mksquashfs', [root, rootfsPath, '-noappend', '-comp', o.payloadBytes ? 'gzip' : 'xz', '-quiet', '-no-progress']);
  return {
    name,
    version,
    description: `${name} appliance (fake)`,
    arch,
    base: { name: 'debian', release: 'trixie', title: 'Debian 13 (trixie)' },
    metadataPath,
    rootfsPath,
    builtAt,
  };
}

/** Environment flag: CI requires every oracle (tool-based) test to run. */
export const CI = process.env.CI === 'true';

/** Is `cmd` on PATH? */
export async function have(cmd: string): Promise<boolean> {
  const r = await execa('/bin/sh', ['-c', `command -v ${cmd}`], { reject: false });
  return r.exitCode === 0;
}

/** An external tool an oracle test needs, and how to check it is usable beyond being on PATH. */
export interface NeededTool {
  cmd: string;
  /** Why the test needs it (printed with the skip). */
  why: string;
  check?: () => Promise<boolean>;
}

/** Registers one test: `(name, fn)`, like uvu's `test`. */
export type Register = (name: string, fn: () => void | Promise<void>) => void;

/**
 * Gate of an oracle test that needs external tools, evaluated when the file loads: `suite` itself
 * when every tool is usable. Elsewhere a missing tool makes the test a uvu skip, counted in the
 * runner's `skipped` (never a pass), with the reason printed; under CI=true the test is registered
 * and fails with the reason (CI installs every tool).
 *
 * ```ts
 * (await withTools(test, { cmd: 'rsync', why: 'publish uses rsync' }))('publish through rsync', async () => { ... });
 * ```
 */
export async function withTools(suite: Test, ...tools: NeededTool[]): Promise<Register> {
  const missing: string[] = [];
  for (const t of tools) {
    const installed = await have(t.cmd);
    if (installed && (!t.check || (await t.check()))) continue;
    missing.push(`${t.cmd} ${installed ? 'not usable' : 'not installed'}: ${t.why}`);
  }
  if (!missing.length) return suite;
  const msg = missing.join('; ');
  if (CI) return (name) => suite(name, () => { throw new Error(`CI=true requires it: ${msg}`); });
  return (name, fn) => {
    process.stdout.write(`  SKIP (not a pass): ${name}: ${msg}\n`);
    suite.skip(name, fn);
  };
}
