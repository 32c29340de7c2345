/**
 * Build-stage benchmarks (`npm run bench -- build`), all measured in this run, with ratios:
 *
 * 1. no-op `node --import tsx build.ts --dry-run` over the catalogue vs a bare tsx start of an
 *    empty script (target <= 1.2x); also the build verb alone (without the other verbs' modules),
 *    to separate the build stage's own cost from the verb table's, and both through the `tsx`
 *    command (which starts a second node);
 * 2. the same with 200 generated appliances (target <= 1.5x);
 * 3. four independent targets with the fake distrobuilder sleeping 2 s: -j 1 vs -j 2.
 *
 * Everything runs in scratch copies of the project with the fake distrobuilder; runs of the
 * compared commands alternate so that load from other processes hits both alike.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const FAKE = join(ROOT, 'test', 'fixtures', 'fake-distrobuilder');
const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const scratch: string[] = [];

function project(keepAppliances = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-build-'));
  scratch.push(dir);
  for (const p of ['build.ts', 'lib', 'appliances', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  if (!keepAppliances) for (const n of readdirSync(join(dir, 'appliances'))) if (!n.startsWith('_')) rmSync(join(dir, 'appliances', n), { recursive: true });
  // The build verb alone: the same CLI, without the other verbs' modules.
  writeFileSync(join(dir, 'build-only.ts'), "import { main } from './lib/cli.ts';\nimport { buildVerb } from './lib/verbs/build.ts';\nprocess.exitCode = await main(process.argv.slice(2), [{ name: 'build', load: async () => buildVerb }]);\n");
  writeFileSync(join(dir, 'empty.ts'), '');
  return dir;
}

const env = { ...process.env, DISTROBUILDER: FAKE, APPLIANCE_DEBIAN_MIRROR: 'http://mirror.example/debian', CI: '1', NO_COLOR: '1' };

const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** Runs `node --import tsx ARGS` (or, with `cli`, the `tsx` command, which starts a second node). */
function run(dir: string, args: string[], extra: NodeJS.ProcessEnv = {}, cli = false): { ms: number; out: string } {
  const t0 = performance.now();
  const r = cli
    ? spawnSync(TSX, args, { cwd: dir, env: { ...env, ...extra }, encoding: 'utf8' })
    : spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: dir, env: { ...env, ...extra }, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return { ms, out: r.stdout };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Builds everything (fake), waits out the 2 s "racy" window, refreshes, then measures. */
function noop(label: string, dir: string, target: number): void {
  run(dir, ['build.ts', '--no-index', '-j', '2']);
  spawnSync('sleep', ['2.2']);
  run(dir, ['build.ts', '--no-index']);
  const check = run(dir, ['build.ts', '--dry-run']).out;
  if (/stale/.test(check.split('\n').slice(0, -2).join('\n'))) throw new Error(`not a no-op:\n${check}`);
  const bare: number[] = [];
  const dry: number[] = [];
  const alone: number[] = [];
  const bareCli: number[] = [];
  const dryCli: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(run(dir, ['empty.ts']).ms);
    dry.push(run(dir, ['build.ts', '--dry-run']).ms);
    alone.push(run(dir, ['build-only.ts', '--dry-run']).ms);
    bareCli.push(run(dir, ['empty.ts'], {}, true).ms);
    dryCli.push(run(dir, ['build.ts', '--dry-run'], {}, true).ms);
  }
  const [b, d, a, bc, dc] = [median(bare), median(dry), median(alone), median(bareCli), median(dryCli)];
  const n = (check.match(/(\d+) target\(s\)/) ?? [])[1];
  const verdict = d / b <= target ? 'within' : 'ABOVE';
  process.stdout.write(`${label} (${n} targets), median of ${RUNS}:\n`);
  process.stdout.write(`  bare tsx start (empty script)     ${b.toFixed(0).padStart(5)} ms\n`);
  process.stdout.write(`  build.ts --dry-run (no-op)        ${d.toFixed(0).padStart(5)} ms   ratio ${(d / b).toFixed(2)}x (target <= ${target}x: ${verdict})\n`);
  process.stdout.write(`  build verb alone --dry-run        ${a.toFixed(0).padStart(5)} ms   ratio ${(a / b).toFixed(2)}x (without the other verbs' imports)\n`);
  process.stdout.write(`  with the tsx command: bare ${bc.toFixed(0)} ms, build.ts --dry-run ${dc.toFixed(0)} ms   ratio ${(dc / bc).toFixed(2)}x\n`);
}

try {
  // 1. The catalogue.
  noop('no-op dry run, catalogue', project(), 1.2);

  // 2. 200 generated appliances.
  const big = project(false);
  for (let i = 0; i < 200; i++) {
    const name = `gen-${String(i).padStart(3, '0')}`;
    mkdirSync(join(big, 'appliances', name, 'files'), { recursive: true });
    writeFileSync(join(big, 'appliances', name, 'files', 'motd'), `${name}\n`);
    writeFileSync(join(big, 'appliances', name, 'appliance.ts'), `import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

export default defineAppliance({
  name: '${name}',
  version: '1.0',
  description: 'generated appliance ${i}',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['busybox'],
  files: [{ source: 'motd', path: '/etc/motd' }],
  health: { command: 'true' },
});
`);
  }
  noop('no-op dry run, 200 generated appliances', big, 1.5);

  // 3. Four independent targets, fake distrobuilder sleeping 2 s, -j 1 vs -j 2.
  const four = project(false);
  for (let i = 0; i < 4; i++) {
    const name = `four-${i}`;
    mkdirSync(join(four, 'appliances', name), { recursive: true });
    writeFileSync(join(four, 'appliances', name, 'appliance.ts'), `import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';
export default defineAppliance({ name: '${name}', version: '1.0', description: 'four ${i}', base: debian(), architectures: ['amd64', 'arm64'], health: { command: 'true' } });
`);
  }
  const j1 = run(four, ['build.ts', '--force', '--no-index', '-j', '1'], { FAKE_DB_SLEEP: '2' }).ms;
  const j2 = run(four, ['build.ts', '--force', '--no-index', '-j', '2'], { FAKE_DB_SLEEP: '2' }).ms;
  process.stdout.write(`4 independent targets, fake distrobuilder sleeping 2 s:\n`);
  process.stdout.write(`  -j 1  ${(j1 / 1000).toFixed(1).padStart(5)} s\n  -j 2  ${(j2 / 1000).toFixed(1).padStart(5)} s   ratio j1/j2 ${(j1 / j2).toFixed(2)}x (ideal 2x)\n`);
} finally {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
}
