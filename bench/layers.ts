/**
 * The layered build graph with the REAL distrobuilder (`npm run bench -- layers`; root, the
 * host's Debian mirror, ~15 min on 2 cores). One run of each step in a scratch copy of the
 * project, every figure a ratio against a baseline measured in the same run:
 *
 * 0. flat baseline: one `distrobuilder build-incus` of nginx's whole definition (the builder
 *    before the layered graph);
 * 1. cold nginx:amd64 (base + packages layer + image, indexed);
 * 2. edit of nginx's files/index.html -> rebuilt and indexed, default compression (xz)
 *    (target <= 30% of 1), and with `--compression zstd-3` (target <= 10 s);
 * 3. edit of nginx's package list -> packages layer + image;
 * 4. cold nginx + postgres + redis + caddy (amd64) (target <= 2.5x of 1);
 * 5. nginx:arm64 cold through qemu-user, then redis:arm64 on the built arm64 base
 *    (target <= 40% of nginx:arm64).
 *
 * Each step also checks which nodes ran (a file edit must run neither debootstrap nor apt).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'bench-layers-'));
for (const p of ['build.ts', 'lib', 'appliances', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1' };
delete env.DISTROBUILDER;

/** Runs build.ts; returns its wall time (s) and output; throws on failure. */
function buildTs(args: string[]): { s: number; out: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'build.ts', ...args, '--plain'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`build.ts ${args.join(' ')} exited ${r.status}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return { s, out: r.stdout + r.stderr };
}

/** The nodes a build ran, from its `<node>: built in` lines. */
const ran = (out: string) => [...out.matchAll(/^(\S+): built in /gm)].map((m) => m[1]).sort();

function edit(rel: string, fn: (t: string) => string): void {
  const f = join(dir, rel);
  writeFileSync(f, fn(readFileSync(f, 'utf8')));
}

/** Thrown to end the run early on purpose. */
class Skip extends Error {}

const rows: Array<[string, string, string]> = [];
const row = (what: string, s: number, vs: string) => {
  rows.push([what, `${s.toFixed(1)} s`, vs]);
  process.stdout.write(`${what}: ${s.toFixed(1)} s ${vs}\n`);
};

try {
  // 0. The flat baseline: the whole definition in one build-incus run.
  const yaml = spawnSync(process.execPath, ['--import', 'tsx', 'build.ts', 'compile', 'nginx:amd64'], { cwd: dir, env, encoding: 'utf8' }).stdout;
  const flatDir = join(dir, '.flat');
  mkdirSync(flatDir, { recursive: true });
  writeFileSync(join(flatDir, 'nginx.yaml'), yaml);
  let t0 = performance.now();
  const flat = spawnSync('distrobuilder', ['--cache-dir', join(flatDir, 'work'), 'build-incus', join(flatDir, 'nginx.yaml'), join(flatDir, 'out'), '--compression', 'xz'], { encoding: 'utf8' });
  const flatS = (performance.now() - t0) / 1000;
  if (flat.status !== 0) throw new Error(`flat build failed:\n${flat.stderr.slice(-2000)}`);
  const flatSize = statSync(join(flatDir, 'out', 'rootfs.squashfs')).size;
  rmSync(flatDir, { recursive: true, force: true });
  row('flat build-incus of nginx:amd64 (the builder before layers)', flatS, `(baseline, ${(flatSize / 1048576).toFixed(1)} MiB)`);

  // 1. Cold nginx, layered.
  const cold = buildTs(['nginx:amd64']);
  row('cold nginx:amd64, layered (base + packages + image, indexed)', cold.s, `${(cold.s / flatS).toFixed(2)}x flat; nodes: ${ran(cold.out).join(', ')}`);

  // 2. A shipped-file edit.
  edit('appliances/nginx/files/index.html', (t) => t + '<!-- bench edit 1 -->\n');
  const e1 = buildTs(['nginx:amd64']);
  if (ran(e1.out).join() !== 'nginx:amd64') throw new Error(`a file edit ran more than the image: ${ran(e1.out)}`);
  row('edit files/index.html -> rebuilt and indexed (xz)', e1.s, `${((e1.s / cold.s) * 100).toFixed(0)}% of cold (target <= 30%)`);
  buildTs(['nginx:amd64', '--compression', 'zstd-3']);
  edit('appliances/nginx/files/index.html', (t) => t + '<!-- bench edit 2 -->\n');
  const e2 = buildTs(['nginx:amd64', '--compression', 'zstd-3']);
  row('edit files/index.html -> rebuilt and indexed (--compression zstd-3)', e2.s, `${((e2.s / cold.s) * 100).toFixed(0)}% of cold (target <= 10 s)`);
  buildTs(['nginx:amd64']);

  // 3. A package list edit.
  edit('appliances/nginx/appliance.ts', (t) => t.replace(/packages: \[([^\]]*)\]/, (_m, list: string) => `packages: [${list}, 'less']`));
  const pk = buildTs(['nginx:amd64']);
  row('edit of the package list -> packages layer + image', pk.s, `${((pk.s / cold.s) * 100).toFixed(0)}% of cold; nodes: ${ran(pk.out).join(', ')}`);

  // 4. Four appliances from nothing: one base for all.
  rmSync(join(dir, '.cache'), { recursive: true, force: true });
  rmSync(join(dir, 'registry'), { recursive: true, force: true });
  const four = buildTs(['nginx:amd64', 'postgres:amd64', 'redis:amd64', 'caddy:amd64']);
  const bases = ran(four.out).filter((n) => n.startsWith('base/'));
  row('cold nginx + postgres + redis + caddy (amd64)', four.s, `${(four.s / cold.s).toFixed(2)}x cold nginx (target <= 2.5x); bases built: ${bases.join(', ')}`);

  // 5. arm64 through qemu-user: the second appliance reuses the base (~15 min; BENCH_LAYERS_ARM64=0 skips it).
  if (process.env.BENCH_LAYERS_ARM64 === '0') throw new Skip();
  const a1 = buildTs(['nginx:arm64']);
  row('cold nginx:arm64 (qemu-user)', a1.s, `(baseline for the next line)`);
  const a2 = buildTs(['redis:arm64']);
  row('redis:arm64 on the built arm64 base', a2.s, `${((a2.s / a1.s) * 100).toFixed(0)}% of nginx:arm64 (target <= 40%); nodes: ${ran(a2.out).join(', ')}`);
} catch (e) {
  if (!(e instanceof Skip)) throw e;
} finally {
  const table = ['| step | time | against the baseline |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  process.stdout.write(`\n${table}\n`);
  if (process.env.BENCH_LAYERS_OUT) appendFileSync(process.env.BENCH_LAYERS_OUT, table + '\n');
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
}
