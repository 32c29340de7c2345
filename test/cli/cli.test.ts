import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runBuildTs, runCli } from '../helpers.ts';
import { loadAllVerbs } from '../../lib/verbs/index.ts';

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
