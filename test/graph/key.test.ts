/** Unit tests of the build stage's pure parts: hashing, canonical JSON, key diff, parsing. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, hashBytes, hashFile, type Hash } from '../../lib/graph/hash.ts';
import { diffPaths, explainKeyChange, inputLabel, keyDefinition, makeKey, type KeyState } from '../../lib/graph/key.ts';
import { parseDuration, formatDuration, formatBytes } from '../../lib/format.ts';
import { foreignArchProblem } from '../../lib/graph/arch-check.ts';
import { stageOf } from '../../lib/graph/distrobuilder.ts';
import { RECORD_FORMAT, recordProblem, type TargetKey, type TargetRecord } from '../../lib/graph/record.ts';
import { formatEvent } from '../../lib/graph/events.ts';

test('canonical JSON sorts keys at every level and keeps array order', () => {
  assert.is(canonicalJson({ b: 1, a: { d: [3, 1], c: undefined, b: null } }), '{"a":{"b":null,"d":[3,1]},"b":1}');
  assert.is(canonicalJson({ x: 1, y: 2 }), canonicalJson({ y: 2, x: 1 }));
});

test('xxh64 of bytes, strings and files agree and are stable', async () => {
  const h = await hashBytes('hello');
  assert.match(h, /^[0-9a-f]{16}$/);
  assert.is(h, await hashBytes(Buffer.from('hello')));
  assert.is(h, '26c7827d889f6da3'); // xxh64("hello", seed 0)
  const dir = mkdtempSync(join(tmpdir(), 'hash-'));
  try {
    writeFileSync(join(dir, 'f'), 'hello');
    assert.is(await hashFile(join(dir, 'f')), h);
    const big = Buffer.alloc(9 << 20, 7); // streamed
    writeFileSync(join(dir, 'big'), big);
    assert.is(await hashFile(join(dir, 'big')), await hashBytes(big));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('the key hash does not depend on key order', async () => {
  const a = await makeKey({ builder: 1, arch: 'amd64', distrobuilder: '3.2', options: { type: 'split', compression: 'xz' }, yaml: 'a' as Hash, definition: { x: 1, y: 2 }, files: {} });
  const b = await makeKey({ files: {}, definition: { y: 2, x: 1 }, yaml: 'a' as Hash, options: { compression: 'xz', type: 'split' }, distrobuilder: '3.2', arch: 'amd64', builder: 1 } as TargetKey);
  assert.is(a.hash, b.hash);
});

test('the key definition refers to shipped files and hashes long scripts', async () => {
  const content = 'server {}\n';
  const long = '#!/bin/sh\n' + 'echo x\n'.repeat(40);
  const def = await keyDefinition({
    image: { distribution: 'debian' },
    source: { downloader: 'debootstrap' },
    files: [{ generator: 'dump', path: '/etc/nginx/nginx.conf', content }, { generator: 'dump', path: '/etc/other', content }],
    actions: [{ trigger: 'post-files', action: long }],
  } as never, new Map([['/etc/nginx/nginx.conf', { label: 'files/nginx.conf', content }]])) as { files: Array<{ content: unknown }>; actions: Array<{ action: string }> };
  assert.equal(def.files[0].content, { '@file': 'files/nginx.conf' });
  assert.is(def.files[1].content, content, 'a short inline content stays as it is');
  assert.match(def.actions[0].action, /^xxh64:[0-9a-f]{16} \(\d+ bytes\)$/);
});

test('diffPaths names the changed fields', () => {
  assert.equal(diffPaths({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] } }), ['b.c[1]']);
  assert.equal(diffPaths({ a: 1 }, { a: 1, d: 2 }), ['d']);
  assert.equal(diffPaths([1], [1, 2]), ['(root)']);
  assert.equal(diffPaths({ a: 1 }, { a: 1 }), []);
});

test('inputLabel: appliance-relative, base-relative, or project-relative', () => {
  assert.is(inputLabel('appliances/nginx/files/a.conf', 'nginx'), 'files/a.conf');
  assert.is(inputLabel('appliances/nginx/appliance.ts', 'nginx'), 'appliance.ts');
  assert.is(inputLabel('appliances/_base/debian.ts', 'nginx'), '_base/debian.ts');
  assert.is(inputLabel('lib/compile/compile.ts', 'nginx'), 'lib/compile/compile.ts');
});

function state(over: Partial<TargetKey> = {}, inputs: KeyState['inputs'] = {}, fields: Record<string, Hash> = {}, context: Record<string, string> = { debianMirror: 'http://m/debian' }): KeyState {
  return {
    key: { builder: 1, arch: 'amd64', distrobuilder: '3.2', options: { compression: 'xz', type: 'split' }, yaml: 'y1' as Hash, definition: { packages: { sets: ['a'] }, source: { url: 'http://m/debian' } }, files: { 'files/a': 'h1' as Hash }, ...over },
    fields,
    inputs,
    context,
  };
}
const inp = (hash: string, kind: 'module' | 'file' | 'tool' = 'module') => ({ kind, size: 1, mtimeMs: 1, ino: 1, hash: hash as Hash });
function rec(s: KeyState): TargetRecord {
  return { format: RECORD_FORMAT, target: 'nginx:amd64', name: 'nginx', arch: 'amd64', hash: 'h' as Hash, builder: s.key.builder, distrobuilder: s.key.distrobuilder, options: s.key.options, context: s.context, inputs: s.inputs, appliance: { name: 'nginx', version: '1', description: 'd', architectures: ['amd64'], base: { name: 'debian', release: 'trixie', title: 'Debian' } }, outputs: {}, builtAt: new Date().toISOString(), durationMs: 1, indexed: false };
}
function explain(old: KeyState, now: KeyState) {
  return explainKeyChange('nginx', { record: rec(old), key: { hash: 'h' as Hash, key: old.key, fields: old.fields } }, now);
}

test('explain: toolchain, builder logic and options', () => {
  assert.equal(explain(state(), state({ distrobuilder: '3.3' })), ['distrobuilder 3.2 -> 3.3']);
  assert.equal(explain(state(), state({ builder: 2 })), ['builder logic v1 -> v2']);
  assert.equal(explain(state(), state({ options: { compression: 'zstd', type: 'split' } })), ['option --compression changed (xz -> zstd)']);
});

test('explain: shipped files', () => {
  assert.equal(explain(state(), state({ files: { 'files/a': 'h2' as Hash } })), ['files/a changed']);
  assert.equal(explain(state(), state({ files: { 'files/a': 'h1' as Hash, 'files/b': 'h3' as Hash } })), ['files/b added']);
  assert.equal(explain(state(), state({ files: {} })), ['files/a no longer shipped']);
});

test('explain: a definition change is blamed on the modules that changed, by field for appliance.ts', () => {
  const mods = { 'appliances/nginx/appliance.ts': inp('m1'), 'appliances/_base/debian.ts': inp('b1'), 'appliances/nginx/files/a': inp('f1', 'file') };
  const changedDef = { definition: { packages: { sets: ['a', 'b'] }, source: { url: 'http://m/debian' } } };
  assert.equal(
    explain(state({}, mods, { packages: 'p1' as Hash, ports: 'x1' as Hash }), state(changedDef, { ...mods, 'appliances/nginx/appliance.ts': inp('m2') }, { packages: 'p2' as Hash, ports: 'x2' as Hash })),
    ['appliance.ts: packages changed'],
    'ports do not change the image: not named',
  );
  assert.equal(
    explain(state({}, mods, { base: 'b1' as Hash }), state(changedDef, { ...mods, 'appliances/_base/debian.ts': inp('b2') }, { base: 'b2' as Hash })),
    ['_base/debian.ts changed'],
  );
  assert.equal(explain(state({}, mods), state(changedDef, mods)), ['definition changed: packages']);
});

test('explain: a changed mirror alone explains a source change', () => {
  const mods = { 'appliances/_base/debian.ts': inp('b1') };
  const now = state({ definition: { packages: { sets: ['a'] }, source: { url: 'http://n/debian' } } }, { 'appliances/_base/debian.ts': inp('b2') }, {}, { debianMirror: 'http://n/debian' });
  assert.equal(explain(state({}, mods), now), ['Debian mirror changed (http://m/debian -> http://n/debian)']);
});

test('explain, layered keys: a change confined to the base is the base\'s, named once', () => {
  const mods = { 'appliances/nginx/appliance.ts': inp('m1'), 'appliances/_base/debian.ts': inp('b1') };
  const layered = (basePkgs: string[], own: string[], url = 'http://m/debian') => ({ definition: { base: { packages: { sets: basePkgs }, source: { url } }, packages: { packages: { sets: own } }, image: { files: [] } } });
  const old = state(layered(['systemd'], ['nginx']), mods, { packages: 'p1' as Hash });
  const baseEdit = state(layered(['systemd', 'less'], ['nginx']), { ...mods, 'appliances/_base/debian.ts': inp('b2') }, { packages: 'p1' as Hash });
  assert.equal(explainKeyChange('nginx', { record: rec(old), key: { hash: 'h' as Hash, key: old.key, fields: old.fields } }, baseEdit, 'debian-trixie:amd64'), ['base debian-trixie:amd64 changed: packages']);
  const both = state(layered(['systemd', 'less'], ['nginx', 'curl']), { 'appliances/_base/debian.ts': inp('b2'), 'appliances/nginx/appliance.ts': inp('m2') }, { packages: 'p2' as Hash });
  assert.equal(explainKeyChange('nginx', { record: rec(old), key: { hash: 'h' as Hash, key: old.key, fields: old.fields } }, both, 'debian-trixie:amd64'), ['base debian-trixie:amd64 changed: packages', 'appliance.ts: packages changed']);
  const mirror = state(layered(['systemd'], ['nginx'], 'http://n/debian'), mods, { packages: 'p1' as Hash }, { debianMirror: 'http://n/debian' });
  assert.equal(explainKeyChange('nginx', { record: rec(old), key: { hash: 'h' as Hash, key: old.key, fields: old.fields } }, mirror, 'debian-trixie:amd64'), ['base debian-trixie:amd64 changed: Debian mirror (http://m/debian -> http://n/debian)']);
});

test('record validation: a corrupt or foreign record is named, not trusted', () => {
  const good = rec(state());
  assert.is(recordProblem(good, 'nginx-amd64'), undefined);
  assert.match(recordProblem({ ...good, format: 'x/2' }, 'nginx-amd64')!, /format "x\/2"/);
  assert.match(recordProblem(good, 'hello-amd64')!, /does not match the file name/);
  assert.match(recordProblem({ ...good, inputs: { a: { size: '1' } } }, 'nginx-amd64')!, /input a malformed/);
  assert.match(recordProblem([], 'nginx-amd64')!, /not a JSON object/);
});

test('durations and sizes', () => {
  assert.is(parseDuration('7d'), 7 * 86400e3);
  assert.is(parseDuration('1d12h'), 36 * 3600e3);
  assert.is(parseDuration('2w'), 14 * 86400e3);
  assert.is(parseDuration('soon'), undefined);
  assert.is(parseDuration('7x'), undefined);
  assert.is(formatDuration(82_000), '1m22s');
  assert.is(formatDuration(119_600), '2m00s', 'rounds once: never 1m60s');
  assert.is(formatDuration(59_970), '1m00s');
  assert.is(formatDuration(3_599_700), '1h00m');
  assert.is(formatDuration(900), '900 ms');
  assert.is(formatBytes(35.4 * 1024 * 1024), '35.4 MiB');
});

test('stage lines of distrobuilder', () => {
  assert.is(stageOf('time="2026-01-01T00:00:00Z" level=info msg="Managing packages"'), 'Managing packages');
  assert.is(stageOf('time="x" level=info msg="Running hooks" trigger=post-files'), 'Running hooks (post-files)');
  assert.is(stageOf('time="x" level=info msg="Running generator" generator=dump'), 'Running generators');
  assert.is(stageOf('I: Retrieving InRelease'), undefined);
});

test('foreign architecture check reads binfmt_misc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'binfmt-'));
  try {
    const foreign = process.arch === 'arm64' ? 'amd64' : 'arm64';
    const qemu = foreign === 'arm64' ? 'qemu-aarch64' : 'qemu-x86_64';
    const host = foreign === 'arm64' ? 'amd64' : 'arm64';
    assert.is(foreignArchProblem(host, { APPLIANCE_BINFMT_DIR: dir }), undefined);
    assert.match(foreignArchProblem(foreign, { APPLIANCE_BINFMT_DIR: dir })!, /needs qemu-user emulation: run `sudo bash lib\/host\/setup.sh`/);
    writeFileSync(join(dir, qemu), 'disabled\n');
    assert.ok(foreignArchProblem(foreign, { APPLIANCE_BINFMT_DIR: dir }));
    writeFileSync(join(dir, qemu), 'enabled\ninterpreter /usr/bin/qemu\n');
    assert.is(foreignArchProblem(foreign, { APPLIANCE_BINFMT_DIR: dir }), undefined);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('plain event lines', () => {
  assert.is(formatEvent({ type: 'stale', target: 'nginx:amd64', reasons: ['files/nginx.conf changed', 'forced'] }), 'nginx:amd64: stale (files/nginx.conf changed; forced)');
  assert.is(formatEvent({ type: 'summary', built: 1, fresh: 2, failed: 0, skipped: 0, ms: 1500 }), 'built 1, fresh 2, failed 0 in 1.5 s');
  assert.match(formatEvent({ type: 'failed', target: 't', ms: 1000, message: 'exit 1', log: '.cache/logs/t.log', tail: ['E: boom'] })!, /\| E: boom\n  full log: \.cache\/logs\/t\.log$/);
});

test.run();
