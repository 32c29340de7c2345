/**
 * `doctor`: which tools are present, their versions, and what is missing for which verb; the
 * storage pool launches land on (a warning on `dir`, which unpacks every launch).
 * `setup`: runs lib/host/setup.sh (through sudo when not root).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { defineVerb, opt, type VerbContext } from '../cli.ts';
import { table } from './list.ts';
import { hostArch } from '../arch.ts';
import { CACHE_OPTIONS } from './build.ts';

interface Tool {
  name: string;
  /** Command printing a version; its first line is shown. */
  version: string[];
  /** Verbs that need it. */
  neededBy: string[];
  /** How to get it. */
  fix: string;
}

const SETUP = 'sudo bash lib/host/setup.sh';
const TOOLS: Tool[] = [
  { name: 'node', version: ['node', '--version'], neededBy: ['all'], fix: 'install Node.js 20' },
  { name: 'distrobuilder', version: ['distrobuilder', '--version'], neededBy: ['build', 'validate (distrobuilder validate)', 'test'], fix: SETUP },
  { name: 'debootstrap', version: ['debootstrap', '--version'], neededBy: ['build (Debian bases)'], fix: SETUP },
  { name: 'mksquashfs', version: ['mksquashfs', '-version'], neededBy: ['build'], fix: SETUP },
  { name: 'incus', version: ['incus', 'version'], neededBy: ['test'], fix: SETUP },
  { name: 'incusd (running)', version: ['incus', 'info'], neededBy: ['test'], fix: SETUP },
  { name: 'incus-simplestreams', version: ['incus-simplestreams', '--version'], neededBy: ['tests (registry oracle)'], fix: SETUP },
  { name: 'lxc (LXD client)', version: ['lxc', '--version'], neededBy: ['tests (LXD compatibility)'], fix: `${SETUP} (Debian 12: lxd-client)` },
  { name: 'openssl', version: ['openssl', 'version'], neededBy: ['serve (certificate)'], fix: 'apt-get install openssl' },
  { name: 'rsync', version: ['rsync', '--version'], neededBy: ['publish (rsync destinations)'], fix: 'apt-get install rsync' },
];

async function probe(cmd: string[]): Promise<string | undefined> {
  try {
    const r = await execa(cmd[0], cmd.slice(1), { reject: false, timeout: 15_000, all: true });
    if (r.exitCode !== 0) return undefined;
    const first = String(r.all ?? '').split('\n').find((l) => l.trim()) ?? 'present';
    return first.replace(/^Client version:\s*/, '').slice(0, 60);
  } catch {
    return undefined;
  }
}

function binfmt(): string | undefined {
  const foreign = hostArch() === 'amd64' ? 'qemu-aarch64' : 'qemu-x86_64';
  const f = `/proc/sys/fs/binfmt_misc/${foreign}`;
  if (!existsSync(f)) return undefined;
  return readFileSync(f, 'utf8').split('\n')[0] === 'enabled' ? `${foreign} enabled` : undefined;
}

/** The remote cache section: which one, reachable, writable (a probe PUT + DELETE). */
async function reportCache(ctx: VerbContext<typeof CACHE_OPTIONS>): Promise<void> {
  const { cacheSettings } = await import('../cache/config.ts');
  const s = cacheSettings(ctx.root, ctx.options.cache, ctx.options['cache-ro'], ctx.env);
  if (!s) return void ctx.stdout('\nRemote cache: none configured (--cache URL, APPLIANCE_CACHE, or "cache" in build.config.json)\n');
  const { probeCache } = await import('../cache/probe.ts');
  const r = await probeCache(s, ctx.interrupt());
  ctx.stdout(`\nRemote cache: ${r.url}${r.readOnly ? ' (read-only)' : ''}\n  reachable: ${r.reachable}\n  writable: ${r.writable}\n`);
}

/** The storage section: the default pool's driver; a warning (not a failure) on `dir`. */
async function reportStorage(ctx: VerbContext<typeof CACHE_OPTIONS>): Promise<void> {
  const { defaultPool, poolAdvice } = await import('../incus/storage.ts');
  const p = await defaultPool();
  if (!p) return void ctx.stdout('\nStorage: the default profile has no root disk pool (`incus admin init` or lib/host/setup.sh makes one)\n');
  const a = poolAdvice(p);
  ctx.stdout(`\nStorage: ${a.status}\n${a.warning ? `  warning: ${a.warning}\n` : ''}`);
}

export const doctorVerb = defineVerb({
  name: 'doctor',
  summary: 'show which tools are present, their versions, and what is missing for which verb',
  args: { max: 0 },
  usage: 'doctor [--cache URL [--cache-ro]] [--builder REMOTE]',
  options: { ...CACHE_OPTIONS, builder: opt.string({ value: 'REMOTE', description: 'also check this builder (default: the one in build.config.json, if any)' }) },
  examples: ['npx tsx build.ts doctor', 'npx tsx build.ts doctor --cache http://cache.lan:8080/appliances/', 'npx tsx build.ts doctor --builder local'],
  async run(ctx) {
    const rows = [['TOOL', 'STATUS', 'NEEDED BY']];
    const missing: string[] = [];
    let incusd = false;
    for (const t of TOOLS) {
      let v = await probe(t.version);
      if (t.name.startsWith('incusd') && v) v = 'answering';
      if (t.name.startsWith('incusd')) incusd = Boolean(v);
      rows.push([t.name, v ?? 'MISSING', t.neededBy.join(', ')]);
      if (!v) missing.push(`${t.name}: ${t.fix}`);
    }
    const b = binfmt();
    rows.push([`binfmt (foreign arch)`, b ?? 'MISSING', 'build of the non-host architecture']);
    if (!b) missing.push(`binfmt/qemu-user: ${SETUP}`);
    ctx.stdout(table(rows));
    if (missing.length) ctx.stdout(`\nMissing:\n${missing.map((m) => `  ${m}`).join('\n')}\n`);
    else ctx.stdout('\nEverything needed is present.\n');
    if (incusd) await reportStorage(ctx);
    const { cacheUsage, unusedPaths } = await import('../graph/gc.ts');
    const { projectPaths } = await import('../graph/paths.ts');
    const { treeSize } = await import('../graph/fsutil.ts');
    const { formatBytes } = await import('../format.ts');
    const p = projectPaths(ctx.root);
    const usage = cacheUsage(p);
    const unused = unusedPaths(p).reduce((n, u) => n + treeSize(u.path), 0);
    ctx.stdout(`\nDisk: .cache/ holds ${formatBytes(usage.reduce((n, u) => n + u.bytes, 0))}${usage.length ? ` (${usage.map((u) => `${u.name} ${formatBytes(u.bytes)}`).join(', ')})` : ''}`);
    ctx.stdout(unused ? `; ${formatBytes(unused)} of it is used by no target (\`clean --unused\`)\n` : '\n');
    await reportCache(ctx);
    const { checkBuilder } = await import('../builder/doctor.ts');
    const builder = await checkBuilder(ctx.root, ctx.options.builder);
    if (builder.length) {
      ctx.stdout(`\nBuilder (docs/scale.md):\n${table([['CHECK', 'STATUS'], ...builder.map((b) => [b.what, b.status])])}`);
      for (const b of builder) if (b.fix) ctx.stdout(`  ${b.what}: ${b.fix}\n`);
    }
    return 0;
  },
});

export const setupVerb = defineVerb({
  name: 'setup',
  summary: 'set up this host: Incus, distrobuilder, qemu-user, squashfs-tools (lib/host/setup.sh)',
  args: { max: 0 },
  usage: 'setup [--no-incus]',
  options: { 'no-incus': opt.boolean({ description: 'skip Incus (a build-only host)' }) },
  examples: ['npx tsx build.ts setup'],
  async run(ctx) {
    const script = join(ctx.root, 'lib', 'host', 'setup.sh');
    const args = ['bash', script, ...(ctx.options['no-incus'] ? ['--no-incus'] : [])];
    const cmd = process.getuid?.() === 0 ? args : ['sudo', ...args];
    const r = await execa(cmd[0], cmd.slice(1), { stdio: 'inherit', reject: false });
    return r.exitCode ?? 1;
  },
});
