import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runBuildTs, runCli } from '../helpers.ts';
import { loadAllVerbs } from '../../lib/verbs/index.ts';
import { main, defineVerb, opt, reportError, type VerbEntry } from '../../lib/cli.ts';
import { OptionError, parseOptions } from '../../lib/options.ts';
import { UserError } from '../../lib/diagnostics.ts';

const VERBS = await loadAllVerbs();

test('help lists every verb and its options', async () => {
  const r = await runCli(['help']);
  assert.is(r.code, 0);
  for (const v of VERBS) {
    assert.match(r.stdout, new RegExp(`^  ${v.name} `, 'm'), `verb ${v.name} in the summary`);
    assert.match(r.stdout, new RegExp(`^${v.name}: `, 'm'), `verb ${v.name} section`);
    for (const o of Object.keys(v.options ?? {})) assert.ok(r.stdout.includes(`--${o}`), `option --${o} of ${v.name}`);
  }
  assert.match(r.stdout, /--debian-mirror/);
  assert.match(r.stdout, /examples:/);
});

test('help <verb> and <verb> --help show that verb', async () => {
  const a = await runCli(['help', 'compile']);
  const b = await runCli(['compile', '--help']);
  assert.is(a.code, 0);
  assert.match(a.stdout, /^compile: /m);
  assert.not.match(a.stdout, /^list: /m);
  assert.is(a.stdout, b.stdout);
});

test('unknown verb: clear error listing verbs and appliances, exit 1', async () => {
  const r = await runBuildTs(['frobnicate']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /"frobnicate" is neither a verb nor an appliance/);
  assert.match(r.stderr, /verbs: .*compile/);
  assert.match(r.stderr, /appliances: .*nginx/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test('unknown option: clear error', async () => {
  const r = await runCli(['list', '--frob']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /list: Unknown option '--frob'/);
});

test('a bad option value is a clear error naming the option, checked before the verb runs, exit 1', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['test', '-j', 'abc'], /error: test: --jobs: expected an integer from 1 to 64, got "abc"/],
    [['build', '--jobs', '0', '--dry-run'], /--jobs: expected an integer from 1 to 64, got "0"/],
    [['build', '--type', 'tar', '--dry-run'], /--type: expected one of split, unified, got "tar"/],
    [['build', '--max-age', 'soon', '--dry-run'], /--max-age: expected a duration/],
    [['serve', '--port', '70000'], /--port: expected an integer from 0 to 65535, got "70000"/],
    [['prune', '--keep', '1.5'], /--keep: expected an integer >= 1, got "1.5"/],
    [['sign', '--valid', '0s'], /--valid: expected a duration/],
    [['compile', 'nginx', '--layer', 'top'], /--layer: expected one of base, packages, image, got "top"/],
    [['serve', '--registry', ''], /--registry: expected a path, got an empty string/],
    [['compile', 'nginx', '--debian-mirror', 'mirror.example/debian'], /--debian-mirror: expected a URL such as http:\/\/mirror\.example\/debian, got "mirror\.example\/debian"/],
    [['validate', '--alpine-mirror', 'http://[::1'], /--alpine-mirror: expected a URL/],
    // Not an option, but typed by the user all the same: refused before any request.
    [['verify', 'http://[::1'], /error: http:\/\/\[::1: not a valid URL/],
  ];
  for (const [argv, re] of cases) {
    const r = await runCli(argv);
    assert.is(r.code, 1, argv.join(' '));
    assert.match(r.stderr, re, argv.join(' '));
    assert.not.match(r.stderr, /internal error|\n\s+at /, argv.join(' '));
  }
  // Through build.ts: no `internal error`, no stack.
  const child = await runBuildTs(['test', '-j', 'abc']);
  assert.is(child.code, 1);
  assert.match(child.stderr, /--jobs: expected an integer/);
  assert.not.match(child.stderr, /internal error/);
});

test('the option table parses each kind once and types the values', () => {
  const table = {
    n: opt.integer({ min: 1, max: 9, default: 3, description: '' }),
    d: opt.duration({ description: '' }),
    p: opt.path({ description: '' }),
    c: opt.choice(['a', 'b'], { default: 'a', description: '' }),
    l: opt.list({ description: '' }),
    f: opt.boolean({ description: '' }),
  };
  const absent = parseOptions(table, {});
  assert.equal(absent, { n: 3, d: undefined, p: undefined, c: 'a', l: [], f: false });
  const given = parseOptions(table, { n: '7', d: '1h30m', p: 'x/y', c: 'b', l: ['u', 'v'], f: true });
  assert.equal(given, { n: 7, d: 5_400_000, p: `${process.cwd()}/x/y`, c: 'b', l: ['u', 'v'], f: true });
  assert.throws(() => parseOptions(table, { n: '10' }), (e: unknown) => e instanceof OptionError && e.option === 'n' && /from 1 to 9/.test(e.message));
  assert.throws(() => parseOptions(table, { n: 'NaN' }), (e: unknown) => e instanceof OptionError);
});

test('one error model: typed user errors become messages, bugs keep their stack', async () => {
  const err: string[] = [];
  assert.is(reportError(new OptionError('x', 'bad'), '/', (t) => err.push(t)), 1);
  assert.is(err.join(''), 'error: --x: bad\n');
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  assert.is(reportError(full, '/', () => {}), 1);
  const bug = new TypeError('x is undefined');
  assert.throws(() => reportError(bug, '/', () => {}), (e: unknown) => e === bug);
  // A verb throwing a bug: main rethrows it (build.ts prints it with its stack).
  const boom: VerbEntry = { name: 'boom', load: async () => defineVerb({ name: 'boom', summary: '', usage: 'boom', async run() { throw new RangeError('a bug'); } }) };
  const typed: VerbEntry = { name: 'typed', load: async () => defineVerb({ name: 'typed', summary: '', usage: 'typed', async run() { throw new UserError('your mistake'); } }) };
  let thrown: unknown;
  try { await main(['boom'], [boom]); } catch (e) { thrown = e; }
  assert.instance(thrown, RangeError);
  const out: string[] = [];
  assert.is(await main(['typed'], [typed], { stderr: (t) => out.push(t) }), 1);
  assert.is(out.join(''), 'error: your mistake\n');
});

test('unknown target and architecture: clear errors', async () => {
  const a = await runCli(['compile', 'nope:amd64']);
  assert.is(a.code, 1);
  assert.match(a.stderr, /unknown appliance "nope"; appliances: .*nginx/);
  const b = await runCli(['compile', 'nginx:sparc']);
  assert.is(b.code, 1);
  assert.match(b.stderr, /unknown architecture "sparc" \(use amd64, x86_64, arm64, aarch64\)/);
});

test('list shows name, version, base, architectures, description', async () => {
  const r = await runCli(['list']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^NAME\s+VERSION\s+BASE\s+ARCHITECTURES\s+DESCRIPTION/);
  assert.match(r.stdout, /^nginx\s+1\.26\s+debian trixie\s+amd64,arm64\s+nginx web server/m);
  const j = JSON.parse((await runCli(['list', '--json'])).stdout);
  assert.ok(j.some((a: { name: string }) => a.name === 'nginx'));
});

test('compile accepts x86_64/aarch64 spellings', async () => {
  const a = await runCli(['compile', 'nginx:aarch64']);
  const b = await runCli(['compile', 'nginx:arm64']);
  assert.is(a.code, 0);
  assert.is(a.stdout, b.stdout);
  assert.match(a.stdout, /architecture: arm64/);
});

test.run();
