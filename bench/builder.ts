/**
 * Builders with the REAL distrobuilder (`npm run bench -- builder`; root, Incus, the host's
 * Debian mirror; ~10 min on 2 cores). In this project (its .cache/, so the shared base is built
 * once and reused), nginx:amd64's own layers (packages layer + image, `--force`) are built twice
 * in the same run, and every figure is a ratio against the first:
 *
 * 1. on this host (the host's distrobuilder) — the baseline;
 * 2. in builder containers on this host's Incus (`--builder local`, `DISTROBUILDER=/bin/false`):
 *    the same distrobuilder in a privileged container, plus the launch, the tar streams in and
 *    out and the delete. The builder image is built and imported before, outside the timing.
 *
 * 3. the same in builder containers with the tree cache volume (docs/scale.md), twice: the first
 *    run stores the base (pushed once) and the packages tree; the second finds the base there
 *    ("after the base is on the remote"). Against 2 (no volume), it saves the pushes: the base's
 *    rootfs.tar into the packages layer, the packages tree into the pack. The volume
 *    (`APPLIANCE_BUILDER_VOLUME`, default bench-builder-trees) is created empty and deleted at the end.
 *
 * `BENCH_BUILDER_VOLUME_ONLY=1` skips 1 (only the builder runs: none, cold, warm).
 *
 * Prints the load average too: on a shared machine both figures move with it.
 * Skipped with a message when distrobuilder or Incus is missing, or not root.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1' };
delete env.DISTROBUILDER;

/** Runs build.ts; returns its wall time (s) and output; throws on failure. */
function buildTs(args: string[], extra: NodeJS.ProcessEnv = {}): { s: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'build.ts', ...args, '--plain', '--no-index'], { cwd: ROOT, env: { ...env, ...extra }, encoding: 'utf8', maxBuffer: 64 << 20 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`build.ts ${args.join(' ')} exited ${r.status}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return { s, out: r.stdout + r.stderr };
}

/** Seconds of a node's `built in` line (`1m05s`, `12.3 s`, `850 ms`). */
function nodeSeconds(out: string, node: string): number {
  const m = new RegExp(`^${node.replace(/[/.]/g, '\\$&')}: built in (\\S+(?: s| ms)?)`, 'm').exec(out);
  if (!m) throw new Error(`no "${node}: built in" line in:\n${out.slice(-2000)}`);
  const t = m[1];
  const mm = /^(\d+)m(\d+)s$/.exec(t);
  if (mm) return Number(mm[1]) * 60 + Number(mm[2]);
  return t.endsWith(' ms') ? Number(t.slice(0, -3)) / 1000 : Number(t.replace(/ s$/, ''));
}

/** The tree cache volume's "not pushed" lines of a run, with their node. */
function notPushed(out: string): string[] {
  return [...out.matchAll(/^(\S+): tree cache volume: (\S+ \S+) not pushed/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/** The pool of the default profile's root disk (where the builder creates its volume). */
function pool(): string {
  const r = spawnSync('incus', ['query', 'local:/1.0/profiles/default'], { encoding: 'utf8' });
  const devices = (JSON.parse(r.stdout || '{}') as { devices?: Record<string, { type?: string; path?: string; pool?: string }> }).devices ?? {};
  return Object.values(devices).find((d) => d.type === 'disk' && d.path === '/')?.pool ?? 'default';
}

const have = (cmd: string[]) => spawnSync(cmd[0], cmd.slice(1), { stdio: 'ignore' }).status === 0;
if (process.getuid?.() !== 0 || !have(['distrobuilder', '--version']) || !have(['incus', 'info'])) {
  console.log('bench builder: skipped (needs root, distrobuilder and a running Incus: sudo bash lib/host/setup.sh)');
} else {
  const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`load average at start: ${load()}`);
  // Outside the timing: the base and the builder image (built here if stale, imported if missing).
  buildTs(['nginx:amd64']);
  buildTs(['builder:amd64']);
  const volume = process.env.APPLIANCE_BUILDER_VOLUME || 'bench-builder-trees';
  const dropVolume = () => spawnSync('incus', ['storage', 'volume', 'delete', `local:${pool()}`, volume], { stdio: 'ignore' });
  dropVolume();
  try {
    const volumeOnly = process.env.BENCH_BUILDER_VOLUME_ONLY === '1';
    const local = volumeOnly ? undefined : buildTs(['nginx:amd64', '--force']);
    const noHost = { DISTROBUILDER: '/bin/false' };
    const remote = buildTs(['nginx:amd64', '--force', '--builder', 'local'], { ...noHost, APPLIANCE_BUILDER_VOLUME: 'none' });
    if (!/launching builder container/.test(remote.out)) throw new Error('the builder run did not use builder containers');
    const cold = buildTs(['nginx:amd64', '--force', '--builder', 'local'], { ...noHost, APPLIANCE_BUILDER_VOLUME: volume });
    const warm = buildTs(['nginx:amd64', '--force', '--builder', 'local'], { ...noHost, APPLIANCE_BUILDER_VOLUME: volume });
    const row = (what: string, a: number, b: number) => console.log(`${what.padEnd(34)} ${a.toFixed(1).padStart(7)} s  ${b.toFixed(1).padStart(7)} s  ${(b / a).toFixed(2)}x`);
    if (local) {
      console.log(`${'nginx:amd64, --force'.padEnd(34)} ${'host'.padStart(9)}  ${'builder'.padStart(9)}  ratio`);
      row('packages layer (build-dir)', nodeSeconds(local.out, 'nginx:amd64/packages'), nodeSeconds(remote.out, 'nginx:amd64/packages'));
      row('image (pack-incus, xz)', nodeSeconds(local.out, 'nginx:amd64'), nodeSeconds(remote.out, 'nginx:amd64'));
      // The builder run's whole command includes importing the builder image the first time.
      row('whole command', local.s, remote.s);
    }
    console.log(`\n${'builder, tree cache volume'.padEnd(34)} ${'none'.padStart(9)}  ${'warm'.padStart(9)}  ratio   (first run, storing: see below)`);
    row('packages layer (build-dir)', nodeSeconds(remote.out, 'nginx:amd64/packages'), nodeSeconds(warm.out, 'nginx:amd64/packages'));
    row('image (pack-incus, xz)', nodeSeconds(remote.out, 'nginx:amd64'), nodeSeconds(warm.out, 'nginx:amd64'));
    row('whole command', remote.s, warm.s);
    console.log(`first run with the volume (stores the base and the packages tree): ${cold.s.toFixed(1)} s`);
    for (const [what, r] of [['first', cold], ['warm', warm]] as const) console.log(`not pushed (${what}): ${notPushed(r.out).join('; ') || 'nothing'}`);
  } finally {
    dropVolume();
  }
  console.log(`load average at end: ${load()}`);
}
