/**
 * Builders with the REAL distrobuilder (`npm run bench -- builder`; root, Incus, the host's
 * Debian mirror; ~15 min on 2 cores). In this project (its .cache/, so the shared base is built
 * once and reused), nginx:amd64's own layers (packages layer + image, `--force`) are built three
 * times in the same run, every figure against the first:
 *
 * 1. **local**: on this host (the host's distrobuilder) — the baseline; nothing moves;
 * 2. **builder, cold volume**: in builder containers on this host's Incus (`--builder local`,
 *    `DISTROBUILDER=/bin/false`) with a tree cache volume created empty: the base's tarball is
 *    pushed in and stored; the packages tree is left in the volume (not pulled); the pack reads
 *    it there; the image comes back;
 * 3. **builder, warm volume**: the same again, the base already in the volume: pushed nothing but
 *    the definitions, pulled only the image.
 *
 * Bytes moved are read from the node logs (`# pushing the inputs: N moved`, tar's --totals, and
 * `# pulling the outputs: N moved`), what stayed from the `not pushed` / `not pulled` lines.
 * The builder image is built and imported before, outside the timing. The volume
 * (`APPLIANCE_BUILDER_VOLUME`, default bench-builder-trees) is deleted at the end.
 *
 * Prints the load average too: on a shared machine every figure moves with it.
 * Skipped with a message when distrobuilder or Incus is missing, or not root.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
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

/** Parses a size as formatBytes prints it (`207.3 MiB`). */
function bytesOf(text: string): number {
  const m = /^([\d.]+) (B|KiB|MiB|GiB)$/.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB'].indexOf(m[2]);
}

/** What moved in one run of nginx's two nodes, from their logs: pushed, pulled, and what stayed where it was. */
function moved(): { pushed: number; pulled: number; notPushed: number; notPulled: number } {
  const out = { pushed: 0, pulled: 0, notPushed: 0, notPulled: 0 };
  for (const f of ['nginx-amd64.packages.log', 'nginx-amd64.log']) {
    const log = readFileSync(join(ROOT, '.cache', 'logs', f), 'utf8');
    for (const m of log.matchAll(/^# pushing the inputs: .* moved \((\d+) bytes\)/gm)) out.pushed += Number(m[1]);
    for (const m of log.matchAll(/^# pulling the outputs: .* moved \((\d+) bytes\)/gm)) out.pulled += Number(m[1]);
    for (const m of log.matchAll(/^# tree cache volume: (\S+ \S+) not pushed/gm)) out.notPushed += bytesOf(m[1]);
    for (const m of log.matchAll(/^# tree left on the builder \((\S+ \S+) not pulled/gm)) out.notPulled += bytesOf(m[1]);
  }
  return out;
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
    const runs: Array<{ what: string; r: { s: number; out: string }; m: ReturnType<typeof moved>; load: string }> = [];
    const run = (what: string, extra: NodeJS.ProcessEnv, builder: boolean) => {
      const r = buildTs(['nginx:amd64', '--force', ...(builder ? ['--builder', 'local'] : [])], extra);
      if (builder !== /launching builder container/.test(r.out)) throw new Error(`${what}: builder containers ${builder ? 'not ' : ''}used`);
      runs.push({ what, r, m: builder ? moved() : { pushed: 0, pulled: 0, notPushed: 0, notPulled: 0 }, load: load() });
    };
    const onBuilder = { DISTROBUILDER: '/bin/false', APPLIANCE_BUILDER_VOLUME: volume };
    run('local (this host)', {}, false);
    run('builder, cold volume', onBuilder, true);
    run('builder, warm volume', onBuilder, true);
    const base = runs[0].r;
    const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
    console.log(`\n| nginx:amd64 --force | packages layer | image | whole command | vs local | pushed | pulled | stayed put (not pushed / not pulled) | load after |`);
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const { what, r, m, load: l } of runs) {
      console.log(`| ${what} | ${nodeSeconds(r.out, 'nginx:amd64/packages').toFixed(1)} s | ${nodeSeconds(r.out, 'nginx:amd64').toFixed(1)} s | ${r.s.toFixed(1)} s | ${(r.s / base.s).toFixed(2)}x | ${mib(m.pushed)} | ${mib(m.pulled)} | ${mib(m.notPushed)} / ${mib(m.notPulled)} | ${l} |`);
    }
  } finally {
    dropVolume();
  }
  console.log(`load average at end: ${load()}`);
}
