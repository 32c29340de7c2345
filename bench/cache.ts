/**
 * The remote cache with the REAL distrobuilder (`npm run bench -- cache`; root, the host's
 * Debian mirror, a real nginx WebDAV server from test/cache/nginx.ts; ~5-10 min on 2 cores).
 * Each step in a fresh scratch copy of the project (a clean clone), every figure a ratio
 * against the cold build measured in the same run:
 *
 * 1. cold nginx:amd64 with `--cache` (base + packages layer + image, and the uploads);
 * 2. a second clean clone, `--cache`: nginx:amd64 fetched (target: < 15% of 1);
 * 3. a third clean clone builds redis:amd64 (not in the cache): the base is fetched instead of
 *    debootstrapped (its fetch vs its build in 1).
 *
 * Skipped with a message when distrobuilder or nginx is missing, or not root.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nginxPath, startNginx } from '../test/cache/nginx.ts';

const ROOT = join(import.meta.dirname, '..');
const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1' };
delete env.DISTROBUILDER;
const dirs: string[] = [];

/** A clean copy of the project. */
function clone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cache-'));
  dirs.push(dir);
  for (const p of ['build.ts', 'lib', 'appliances', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/** Runs build.ts; returns its wall time (s) and output; throws on failure. */
function buildTs(dir: string, args: string[]): { s: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'build.ts', ...args, '--plain', '--no-index'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`build.ts ${args.join(' ')} exited ${r.status}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return { s, out: r.stdout + r.stderr };
}

/** Seconds of a node's `built in` / `from cache in` line (`1m05s`, `12.3 s`, `850 ms`). */
function nodeSeconds(out: string, node: string, how: 'built' | 'from cache'): number | undefined {
  const m = new RegExp(`^${node.replace(/[/.]/g, '\\$&')}: ${how} in (\\S+(?: s| ms)?)`, 'm').exec(out);
  if (!m) return undefined;
  const t = m[1];
  const mm = /^(\d+)m(\d+)s$/.exec(t);
  if (mm) return Number(mm[1]) * 60 + Number(mm[2]);
  return t.endsWith(' ms') ? Number(t.slice(0, -3)) / 1000 : Number(t.replace(/ s$/, ''));
}

const NGINX = nginxPath();
const db = spawnSync('distrobuilder', ['--version'], { encoding: 'utf8' });
if (!NGINX || db.status !== 0 || process.getuid?.() !== 0) {
  process.stdout.write(`skipped: bench/cache.ts needs root, distrobuilder and nginx (${[!NGINX && 'nginx missing', db.status !== 0 && 'distrobuilder missing', process.getuid?.() !== 0 && 'not root'].filter(Boolean).join(', ')})\n`);
} else {
  const srv = await startNginx(NGINX);
  try {
    const cache = ['--cache', srv.rw];
    process.stdout.write(`remote cache: nginx ${srv.rw} (a real WebDAV server on this host)\n`);
    const cold = buildTs(clone(), ['nginx:amd64', ...cache]);
    const baseBuilt = nodeSeconds(cold.out, 'base/debian-trixie:amd64', 'built');
    process.stdout.write(`1. cold nginx:amd64 with --cache (build + upload): ${cold.s.toFixed(1)} s (base built in ${baseBuilt?.toFixed(1)} s)\n`);
    const hit = buildTs(clone(), ['nginx:amd64', ...cache]);
    if (!/^nginx:amd64: from cache in /m.test(hit.out) || / built in /.test(hit.out)) throw new Error(`step 2 was not a cache hit:\n${hit.out}`);
    const ratio = hit.s / cold.s;
    process.stdout.write(`   ${/^nginx:amd64: from cache in .*$/m.exec(hit.out)?.[0]}\n`);
    process.stdout.write(`2. second clean clone, nginx:amd64 from the cache: ${hit.s.toFixed(1)} s = ${(100 * ratio).toFixed(1)}% of 1 (target < 15%) ${ratio < 0.15 ? 'OK' : 'MISSED'}\n`);
    const other = buildTs(clone(), ['redis:amd64', ...cache]);
    const baseFetched = nodeSeconds(other.out, 'base/debian-trixie:amd64', 'from cache');
    const size = /^base\/debian-trixie:amd64: from cache in \S+(?: s| ms)? \(([^)]+)\)/m.exec(other.out)?.[1];
    process.stdout.write(`3. third clean clone, redis:amd64 (not cached) on the fetched base: ${other.s.toFixed(1)} s; base fetched in ${baseFetched?.toFixed(1)} s (${size}) vs built in ${baseBuilt?.toFixed(1)} s = ${baseFetched && baseBuilt ? ((100 * baseFetched) / baseBuilt).toFixed(1) : '?'}%\n`);
  } finally {
    await srv.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
