/**
 * The gate, verb by verb: every broken appliance of the corpus (test/gate/corpus.ts) is refused
 * by validate, compile, build, test and profile with the same located message, exit 1, no stack
 * trace, and nothing written to `.cache/` or `registry/`. One scratch project (fake
 * distrobuilder) holds the whole corpus; child processes run a few at a time.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { runCli } from '../helpers.ts';
import { project, type Project } from '../graph/project.ts';
import { CASES, locatedLine, writeCases, type Case } from './corpus.ts';

let p: Project;
/** The located line `validate` printed for each case: every other verb must print the same. */
const expected = new Map<string, string>();
/**
 * Import limits: 1 s for the cases that hang (they never finish, whatever the load: the limit
 * only decides how long they take), and one no load reaches for every other run, so that a
 * slow import of a healthy or merely broken module on a busy machine is never reported as a
 * time-out instead of its own error.
 */
const HANG_LIMIT = { APPLIANCE_IMPORT_TIMEOUT: '1' };
const NO_LIMIT = { APPLIANCE_IMPORT_TIMEOUT: '600' };
/** Kills a run that should have ended long before (a broken limit must fail these tests, not hang the suite). */
const KILL_AFTER_MS = 120_000;

test.before(() => {
  p = project();
  writeCases(join(p.dir, 'appliances'));
});
test.after(() => p.cleanup());
let t0 = Date.now();
test.after.each(() => { if (process.env.GATE_TIMING) console.error(`${Date.now() - t0} ms`); t0 = Date.now(); });

/** Runs `fn` over `items`, `n` at a time (2 cores: child processes would only queue). */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

/** Nothing written: no .cache/ at all (not even the toolchain cache), no registry/. */
function assertNothingWritten(what: string): void {
  const cache = join(p.dir, '.cache');
  assert.ok(!existsSync(cache), `${what}: .cache/ holds ${existsSync(cache) ? readdirSync(cache, { recursive: true }).join(', ') : ''}`);
  assert.ok(!existsSync(join(p.dir, 'registry')), `${what}: registry/ was created`);
}

/** Runs build.ts in the project under `limit`, killed after {@link KILL_AFTER_MS}. */
async function runLimited(argv: string[], limit: NodeJS.ProcessEnv = NO_LIMIT): Promise<{ code: number; stderr: string }> {
  const child = await execa(process.execPath, ['--import', 'tsx', join(p.dir, 'build.ts'), ...argv], { cwd: p.dir, env: { ...p.env, ...limit }, reject: false, timeout: KILL_AFTER_MS });
  return { code: child.timedOut ? -1 : child.exitCode ?? 1, stderr: String(child.stderr) };
}

function assertRefused(c: Case, verb: string, r: { code: number; stderr: string }): string {
  assert.is(r.code, 1, `${verb} ${c.dir}: exit code\n${r.stderr}`);
  const line = locatedLine(c, r.stderr);
  assert.ok(line, `${verb} ${c.dir}: no "appliances/${c.dir}/appliance.ts:${c.line}:<col> ${c.message.source}" in:\n${r.stderr}`);
  assert.not.match(r.stderr, /\n\s+at |internal error/, `${verb} ${c.dir}: a stack trace`);
  return line!;
}

test('validate: every case located, exit 1', async () => {
  for (const [cases, limit] of [[CASES.filter((c) => !c.hangs), NO_LIMIT], [CASES.filter((c) => c.hangs), HANG_LIMIT]] as const) {
    const r = await runLimited(['validate', '--no-distrobuilder', ...cases.map((c) => c.dir)], limit);
    for (const c of cases) expected.set(c.dir, assertRefused(c, 'validate', r));
    // The healthy appliances of the project are not blamed.
    assert.not.match(r.stderr, /appliances\/(nginx|hello|tiny)\//);
  }
  assertNothingWritten('validate');
});

test('build: one run naming every case refuses each with validate\'s line, nothing written', async () => {
  const cases = CASES.filter((c) => !c.hangs);
  const r = await runLimited(['build', ...cases.map((c) => c.dir), '--plain']);
  for (const c of cases) assert.is(assertRefused(c, 'build', r), expected.get(c.dir), `build ${c.dir}: the same located line as validate`);
  assertNothingWritten('build');
});

// One build per case for a sample of every kind (a build per case of the whole corpus costs a
// minute on 2 cores; the run above covers them all together).
const SAMPLE = ['secret-default', 'impostor', 'escape', 'link-out', 'configure-dir', 'path-dotdot', 'service-shell', 'setting-dot', 'throws', 'missing-module', 'syntax'];

test('build <case>: refused alone before planning, same message, nothing written', async () => {
  await pool(CASES.filter((c) => SAMPLE.includes(c.dir)), 3, async (c) => {
    const r = await runLimited(['build', c.dir, '--plain']);
    assert.is(assertRefused(c, 'build', r), expected.get(c.dir), `build ${c.dir}: the same located line as validate`);
    assert.match(r.stderr, new RegExp(`error: refused ${c.dir}: nothing built`));
  });
  assertNothingWritten('build');
});

test('compile, profile (in-process) and test refuse every case that imports, with validate\'s line', async () => {
  for (const c of CASES.filter((x) => !x.hangs)) {
    for (const argv of [['compile', `${c.dir}:amd64`], ['profile', c.dir]]) {
      const r = await runCli(argv, { root: p.dir, env: { ...p.env, ...NO_LIMIT } });
      assert.is(assertRefused(c, argv[0], r), expected.get(c.dir), `${argv.join(' ')}: the same located line as validate`);
    }
  }
  assertNothingWritten('compile/profile');
});

test('compile, test and a build of two targets refuse hanging imports within the limit', async () => {
  const hanging = CASES.filter((c) => c.hangs);
  const runs = hanging.flatMap((c) => [['compile', `${c.dir}:amd64`], ['test', c.dir], ['profile', c.dir], ['build', 'hello', c.dir]].map((argv) => ({ c, argv })));
  await pool(runs, 2, async ({ c, argv }) => {
    // Within the limit: the message names the 1 s limit (the run ended because it fired), and a
    // run the limit did not end is killed (code -1), not waited for.
    const r = await runLimited(argv, HANG_LIMIT);
    assert.is(assertRefused(c, argv[0], r), expected.get(c.dir), `${argv.join(' ')}: the same located line as validate`);
  });
  assertNothingWritten('hanging imports');
});

test('test verb: refused by the gate before any build or Incus', async () => {
  await pool(CASES.filter((c) => !c.hangs).slice(0, 4), 2, async (c) => {
    const r = await runLimited(['test', c.dir]);
    assert.is(assertRefused(c, 'test', r), expected.get(c.dir));
  });
  assertNothingWritten('test');
});

test('a healthy target next to a broken one: nothing is built at all', async () => {
  const c = CASES.find((x) => x.dir === 'link-out')!;
  const r = await p.run(['build', 'hello', c.dir, '--plain']);
  assert.is(assertRefused(c, 'build', r), expected.get(c.dir));
  assert.equal(p.builds(), [], 'no distrobuilder run');
  assertNothingWritten('build hello link-out');
});

// Last: it builds, so .cache/ exists afterwards.
test('a built appliance whose shipped file becomes a link outside: the next build refuses it, its record and outputs stay', async () => {
  const first = await p.run(['build', 'hello', '--plain', '--no-index']);
  assert.is(first.code, 0, first.all);
  p.builds();
  const record = p.read('.cache/records/hello-amd64.json');
  rmSync(join(p.dir, 'appliances/hello/files/hello.txt'));
  symlinkSync('/etc/hostname', join(p.dir, 'appliances/hello/files/hello.txt'));
  const r = await runLimited(['build', 'hello', '--plain', '--no-index']);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^appliances\/hello\/appliance\.ts:\d+:\d+ files\[0\]\.source: files\/hello\.txt is a link to \/etc\/hostname, outside/m);
  assert.equal(p.builds(), [], 'nothing built');
  assert.is(p.read('.cache/records/hello-amd64.json'), record, 'the record is untouched');
  assert.ok(!existsSync(join(p.dir, '.cache/lock')) && !existsSync(join(p.dir, 'registry')), 'no lock, no registry');
});

test.run();
