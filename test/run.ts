/**
 * Test runner: runs every `test/**\/*.test.ts` file (uvu suites) in its own Node process,
 * `TEST_JOBS` independent files at once (the ones in ALONE afterwards, one at a time), each
 * file's output printed in one block, and ends with the plain line `N passed, N failed,
 * N skipped` that CI reads (uvu's own summary is not recognised there). Arguments filter files by substring:
 * `npm test -- registry` runs the files whose path contains "registry".
 *
 * A file that exits non-zero without a uvu summary (a crash) counts as one failure.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { availableParallelism } from 'node:os';

const root = join(import.meta.dirname, '..');
const testDir = join(root, 'test');

function find(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'fixtures' || n === 'golden' ? [] : find(p);
    return n.endsWith('.test.ts') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = find(testDir).filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)));
/**
 * Files that run alone, after the others: real builds and Incus launches (they load both cores,
 * and their timings are reported), the builder's containers, and the server hardening tests
 * and the gate's verbs (dozens of child processes: beside other files they would only queue).
 */
const ALONE = ['test/e2e/', 'test/graph/real.', 'test/cache/real.', 'test/builder/', 'test/serve/hardening.', 'test/gate/verbs.'];
/** Independent files at once (`TEST_JOBS`, default: the CPU count, at most 4). */
const JOBS = Math.max(1, Number(process.env.TEST_JOBS) || Math.min(4, availableParallelism()));
let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
const started = Date.now();

/** Runs one test file in its own Node process; its output is printed in one block when it ends. */
async function runFile(file: string): Promise<void> {
  const rel = relative(root, file);
  const t0 = Date.now();
  const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (c) => resolve({ code: c ?? 1, out }));
  });
  process.stdout.write(out);
  // eslint-disable-next-line no-control-regex
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label: string) => {
    const m = [...plain.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))];
    return m.length ? m.reduce((s, x) => s + Number(x[1]), 0) : undefined;
  };
  const total = num('Total');
  const ok = num('Passed') ?? 0;
  const skip = num('Skipped') ?? 0;
  if (total === undefined) {
    failed += 1;
    failures.push(`${rel}: exited ${code} without a test summary`);
  } else {
    // uvu's Total counts the tests that ran; skipped ones are not in it.
    const bad = total - ok;
    passed += ok;
    skipped += skip;
    failed += bad;
    if (bad > 0 || code !== 0) failures.push(`${rel}: ${bad} failed (exit ${code})`);
    if (bad === 0 && code !== 0) failed += 1;
  }
  process.stdout.write(`# ${rel}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

const alone = files.filter((f) => ALONE.some((a) => relative(root, f).startsWith(a)));
const queue = files.filter((f) => !alone.includes(f));
await Promise.all(Array.from({ length: Math.min(JOBS, queue.length) }, async () => {
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runFile(f);
}));
for (const f of alone) await runFile(f);

process.stdout.write(`\n${files.length} test file(s) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
for (const f of failures) process.stdout.write(`FAILED ${f}\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
