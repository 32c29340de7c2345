/**
 * The builder's tree cache volume, against the fake `incus` (test/fixtures/fake-incus: a volume
 * is volumes/NAME/data, attached by a link in the container's root): the volume is created once
 * and marked; a tree a node makes is stored under its key with the tarball's sha256; a later
 * node on that tree gets it from the volume (a tarball linked, a tree unpacked) and does not
 * push it; a corrupted entry is detected, removed, pushed and stored again; a volume of the same
 * name without our mark is left alone; two containers storing the same key at once leave one
 * complete entry.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { IncusExecutor } from '../../lib/builder/incus-executor.ts';
import { MOUNT, VOLUME_MARK } from '../../lib/builder/volume.ts';
import { volumeName, DEFAULT_VOLUME } from '../../lib/builder/config.ts';
import { NodeLog } from '../../lib/graph/distrobuilder.ts';
import type { ExecJob } from '../../lib/graph/executor.ts';
import type { RunEvent } from '../../lib/graph/events.ts';
import { ROOT } from '../helpers.ts';
import { FAKE } from '../graph/project.ts';

const FAKE_INCUS = join(ROOT, 'test', 'fixtures', 'fake-incus');
const VOL = 'trees-test';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'bld-vol-'));
  const remote = join(dir, 'remote');
  mkdirSync(remote);
  const saved = { PATH: process.env.PATH, FAKE_INCUS_DIR: process.env.FAKE_INCUS_DIR, FAKE_DB: process.env.FAKE_DB };
  Object.assign(process.env, { PATH: `${FAKE_INCUS}:${process.env.PATH}`, FAKE_INCUS_DIR: remote, FAKE_DB: FAKE });
  const data = join(remote, 'volumes', VOL, 'data');
  return {
    dir, remote, data,
    calls: () => (existsSync(join(remote, 'calls.log')) ? readFileSync(join(remote, 'calls.log'), 'utf8').trim().split('\n') : []),
    deleted: () => readdirSync(join(remote, 'deleted')),
    cleanup() {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      if (!process.env.KEEP_TMP) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A job of `kind` in its own scratch folder; `trees` and `keep` as the graph sets them. */
function job(dir: string, name: string, extra: Partial<ExecJob> & { inputs?: string[] } = {}) {
  const tmp = join(dir, 'tmp', name);
  mkdirSync(tmp, { recursive: true });
  const def = join(tmp, 'definition.yaml');
  writeFileSync(def, `image:\n  distribution: debian\n  name: ${name}\n  architecture: amd64\nsource:\n  downloader: debootstrap\n`);
  const events: RunEvent[] = [];
  const log = new NodeLog(join(dir, `${name}.log`));
  const tree = join(tmp, 'tree');
  const j: ExecJob = {
    run: { exe: 'distrobuilder', args: ['build-dir', def, join(tree, 'rootfs')], tmp, target: name, log, env: { ...process.env }, signal: new AbortController().signal, emit: (e) => events.push(e) },
    outputs: [tree], ...extra, inputs: [def, ...(extra.inputs ?? [])],
  };
  const stages = () => events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));
  return { j, tmp, tree, log, stages, logText: async () => { await log.close(); return readFileSync(log.file, 'utf8'); } };
}

/** A host "tree" folder (rootfs/ and rootfs.tar) standing for a recorded node's tree. */
function hostTree(dir: string, key: string) {
  const t = join(dir, 'trees', key);
  mkdirSync(join(t, 'rootfs', 'etc'), { recursive: true });
  writeFileSync(join(t, 'rootfs', 'etc', 'os-release'), `ID=debian ${key}\n`);
  spawnSync('tar', ['-C', join(t, 'rootfs'), '-cf', join(t, 'rootfs.tar'), '.']);
  return t;
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const ex = () => new IncusExecutor({ remote: 'far', image: 'far:abc', volume: VOL });

test('a node\'s tree is kept in the volume by key, with its sha256; the volume is created once, marked', async () => {
  const s = setup();
  try {
    const a = job(s.dir, 'base-a', { keep: { key: 'k-base', dir: join(s.dir, 'tmp', 'base-a', 'tree') } });
    assert.is(await ex().run(a.j), undefined);
    assert.ok(readFileSync(join(s.remote, 'volumes', VOL, 'config'), 'utf8').includes(`${VOLUME_MARK}=1`), 'created with the mark');
    const e = join(s.data, 'trees', 'k-base');
    assert.is(readFileSync(join(e, 'sha256'), 'utf8').trim(), sha(join(e, 'rootfs.tar')));
    const listed = spawnSync('tar', ['-tf', join(e, 'rootfs.tar')], { encoding: 'utf8' }).stdout;
    assert.match(listed, /\.\/etc\/layers/, 'the tree the run made');
    assert.equal(readdirSync(join(s.data, 'trees')), ['k-base'], 'no temporary entry left');
    assert.ok(readFileSync(join(s.remote, 'deleted', s.deleted()[0], 'config'), 'utf8').includes(`device=${VOL}:${MOUNT}`), 'attached at the mount point');
    assert.match(await a.logText(), /tree cache volume: STORED k-base/);
    // A second run of the executor (another CLI run) finds the volume: no second create.
    assert.is(await ex().run(job(s.dir, 'base-b', { keep: { key: 'k-base', dir: join(s.dir, 'tmp', 'base-b', 'tree') } }).j), undefined);
    assert.is(s.calls().filter((c) => c.startsWith('storage volume create')).length, 1);
  } finally {
    s.cleanup();
  }
});

test('a tree the volume holds is not pushed: a tarball is linked, a tree unpacked; a missing one is pushed then stored', async () => {
  const s = setup();
  try {
    const base = hostTree(s.dir, 'k-base');
    const other = hostTree(s.dir, 'k-other');
    // First: the base is pushed (absent), and stored from what was pushed.
    const first = job(s.dir, 'layer-1', { inputs: [join(base, 'rootfs.tar')], trees: [{ path: join(base, 'rootfs.tar'), key: 'k-base', form: 'tar' }] });
    assert.is(await ex().run(first.j), undefined);
    assert.match(await first.logText(), /k-base: absent; pushed[\s\S]*STORED k-base/);
    assert.is(readFileSync(join(s.data, 'trees', 'k-base', 'rootfs.tar')).equals(readFileSync(join(base, 'rootfs.tar'))), true, 'the pushed tarball, byte for byte');
    // Second: from the volume; only k-other is pushed.
    const tarPath = join(base, 'rootfs.tar');
    const second = job(s.dir, 'layer-2', {
      inputs: [tarPath, join(other, 'rootfs')],
      trees: [{ path: tarPath, key: 'k-base', form: 'tar' }, { path: join(other, 'rootfs'), key: 'k-other', form: 'tree' }],
    });
    assert.is(await ex().run(second.j), undefined);
    const name = s.deleted().find((n) => n.startsWith('bld-layer-2'))!;
    const croot = join(s.remote, 'deleted', name, 'root');
    assert.ok(lstatSync(join(croot, tarPath)).isSymbolicLink(), 'the tarball is a link into the volume (a push would have replaced it)');
    assert.match(readlinkSync(join(croot, tarPath)), new RegExp(`${MOUNT}/trees/k-base/rootfs.tar$`));
    assert.ok(second.stages().some((x) => /^tree cache volume: .* not pushed \(k-base verified\)$/.test(x)), second.stages().join('\n'));
    assert.match(await second.logText(), /k-other: absent; pushed/);
    // Third: both from the volume; the tree is unpacked where the run reads it.
    const third = job(s.dir, 'pack-3', { inputs: [join(other, 'rootfs')], trees: [{ path: join(other, 'rootfs'), key: 'k-other', form: 'tree' }] });
    assert.is(await ex().run(third.j), undefined);
    const croot3 = join(s.remote, 'deleted', s.deleted().find((n) => n.startsWith('bld-pack-3'))!, 'root');
    assert.is(readFileSync(join(croot3, other, 'rootfs', 'etc', 'os-release'), 'utf8'), 'ID=debian k-other\n', 'unpacked from the volume');
  } finally {
    s.cleanup();
  }
});

test('a corrupted entry does not verify: removed, the tree pushed and stored again', async () => {
  const s = setup();
  try {
    const base = hostTree(s.dir, 'k-base');
    const tarPath = join(base, 'rootfs.tar');
    const mk = (n: string) => job(s.dir, n, { inputs: [tarPath], trees: [{ path: tarPath, key: 'k-base', form: 'tar' }] });
    assert.is(await ex().run(mk('one').j), undefined);
    const stored = join(s.data, 'trees', 'k-base', 'rootfs.tar');
    const good = readFileSync(stored);
    const bad = Buffer.from(good);
    bad[100] ^= 0xff;
    writeFileSync(stored, bad);
    const two = mk('two');
    assert.is(await ex().run(two.j), undefined);
    assert.not.ok(two.stages().some((x) => x.includes('not pushed')), 'the corrupted entry was not used');
    assert.match(await two.logText(), /k-base: checksum mismatch \(sha256:[0-9a-f]{64}\), entry removed; pushed[\s\S]*STORED k-base/);
    assert.ok(readFileSync(stored).equals(good), 'stored again, good');
    assert.equal(readdirSync(join(s.data, 'trees')), ['k-base'], 'no bad or temporary entry left');
  } finally {
    s.cleanup();
  }
});

test('a volume of that name without our mark is left alone; APPLIANCE_BUILDER_VOLUME and the default name', async () => {
  const s = setup();
  try {
    mkdirSync(join(s.remote, 'volumes', VOL, 'data'), { recursive: true });
    writeFileSync(join(s.remote, 'volumes', VOL, 'config'), 'user.other=1\n');
    const a = job(s.dir, 'base-a', { keep: { key: 'k', dir: join(s.dir, 'tmp', 'base-a', 'tree') } });
    assert.is(await ex().run(a.j), undefined, 'the build itself is fine');
    assert.match(await a.logText(), /tree cache volume not used: volume trees-test in pool default exists but is not marked user\.appliance-registry\.trees=1/);
    assert.equal(readdirSync(join(s.remote, 'volumes', VOL, 'data')), [], 'nothing written into it');
    assert.not.ok(s.calls().some((c) => c.startsWith('config device add')));
    const c = { remote: 'x', origin: 'test' };
    assert.is(volumeName(c, {}), DEFAULT_VOLUME);
    assert.is(volumeName({ ...c, volume: false }, {}), false);
    assert.is(volumeName({ ...c, volume: 'v1' }, { APPLIANCE_BUILDER_VOLUME: 'none' }), false);
    assert.is(volumeName(c, { APPLIANCE_BUILDER_VOLUME: 'bd-x' }), 'bd-x');
    assert.throws(() => volumeName(c, { APPLIANCE_BUILDER_VOLUME: 'a b' }), /APPLIANCE_BUILDER_VOLUME: "a b" is not an Incus volume name/);
  } finally {
    s.cleanup();
  }
});

test('two containers storing the same key at once leave one complete, verified entry', async () => {
  const s = setup();
  try {
    const mk = (n: string) => job(s.dir, n, { keep: { key: 'k-same', dir: join(s.dir, 'tmp', n, 'tree') } });
    const e = ex();
    const [a, b] = await Promise.all([e.run(mk('par-a').j), e.run(mk('par-b').j)]);
    assert.is(a, undefined);
    assert.is(b, undefined);
    assert.equal(readdirSync(join(s.data, 'trees')), ['k-same']);
    const entry = join(s.data, 'trees', 'k-same');
    assert.is(readFileSync(join(entry, 'sha256'), 'utf8').trim(), sha(join(entry, 'rootfs.tar')));
    assert.is(s.calls().filter((c) => c.startsWith('storage volume create')).length, 1, 'one executor looks the volume up once');
  } finally {
    s.cleanup();
  }
});

test.run();
