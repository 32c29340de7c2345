/**
 * Trees left on the builder (docs/scale.md), through `build.ts --builder` against the fake
 * `incus` and the fake distrobuilder: a tree node built in a builder container with a tree cache
 * volume stays in the volume, recorded by its tarball's sha256, and is not pulled back (the
 * image still is); the next target on the same base reads the base there (neither pushed nor
 * pulled); a run on this host that needs the tree pulls it (verified) instead of rebuilding it;
 * an entry that is gone or not the recorded tree is never used: the node is restored on the
 * builder and the pack runs again; a writable remote cache keeps trees coming back (its uploads
 * need the bytes).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { projectPaths, treeDir } from '../../lib/graph/paths.ts';
import { readNodeRecord, type NodeRecord } from '../../lib/graph/record.ts';
import { ROOT } from '../helpers.ts';
import { FAKE, project } from '../graph/project.ts';

const FAKE_INCUS = join(ROOT, 'test', 'fixtures', 'fake-incus');
const VOL = 'trees-left';
/** Every node in the builder (the host's distrobuilder made unavailable), with the volume. */
const ON_BUILDER = { DISTROBUILDER: '/bin/false', APPLIANCE_BUILDER_VOLUME: VOL };

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** A fake remote, a scratch project with the builder appliance, its image built here first. */
async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'bld-left-'));
  const remote = join(dir, 'remote');
  mkdirSync(remote);
  const saved = { PATH: process.env.PATH, FAKE_INCUS_DIR: process.env.FAKE_INCUS_DIR, FAKE_DB: process.env.FAKE_DB };
  Object.assign(process.env, { PATH: `${FAKE_INCUS}:${process.env.PATH}`, FAKE_INCUS_DIR: remote, FAKE_DB: FAKE });
  const p = project();
  cpSync(join(ROOT, 'appliances', 'builder'), join(p.dir, 'appliances', 'builder'), { recursive: true });
  const first = await p.run(['builder:amd64', '--no-index', '--json']);
  assert.is(first.code, 0, first.all);
  p.nodes();
  const paths = projectPaths(p.dir);
  const calls = () => (existsSync(join(remote, 'calls.log')) ? readFileSync(join(remote, 'calls.log'), 'utf8').trim().split('\n') : []);
  return {
    p, paths, calls,
    entry: (key: string) => join(remote, 'volumes', VOL, 'data', 'trees', key),
    node: (n: string) => readNodeRecord(paths, n) as NodeRecord,
    cleanup() {
      p.cleanup();
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('a tree built on the builder stays there; the next target reads the base there; this host pulls it when it needs it', async () => {
  const s = await setup();
  try {
    const r = await s.p.run(['hello:amd64', '--builder', 'far', '--plain'], ON_BUILDER);
    assert.is(r.code, 0, r.all);
    const rec = s.node('hello:amd64/packages');
    assert.ok(rec.remote, 'recorded as left on the builder');
    assert.is(rec.remote!.home, `far//${VOL}`);
    assert.is(rec.remote!.sha256, sha(join(s.entry(rec.tree), 'rootfs.tar')), 'by the checksum of the entry in the volume');
    assert.not.ok(existsSync(treeDir(s.paths, rec.tree)), 'the tree is not on this host');
    assert.ok(existsSync(join(s.p.dir, '.cache', 'out', 'hello-amd64', 'rootfs.squashfs')), 'the image came back');
    assert.match(r.stdout, /hello:amd64\/packages: tree left on the builder \(\S+ \S+ not pulled, sha256 [0-9a-f]{12}\)/);
    assert.match(r.stdout, /hello:amd64: tree cache volume: \S+ \S+ not pushed \([0-9a-f]+ verified\)/, 'the pack read it in the volume');

    // A second target on the same base: the base comes from the volume, its own tree stays there.
    const base = s.node('base/debian-trixie:amd64');
    const before = s.calls().length;
    const r2 = await s.p.run(['nginx:amd64', '--builder', 'far', '--plain'], ON_BUILDER);
    assert.is(r2.code, 0, r2.all);
    assert.match(r2.stdout, new RegExp(`nginx:amd64/packages: tree cache volume: \\S+ \\S+ not pushed \\(${base.tree} verified\\)`), 'the base was not pushed');
    const pulls = s.calls().slice(before).filter((c) => / -cf - /.test(c));
    assert.equal(pulls.map((c) => /bld-(nginx-amd64(?:-packages)?)-/.exec(c)?.[1]), ['nginx-amd64'], 'only the image was pulled, no tree');
    assert.ok(s.node('nginx:amd64/packages').remote);

    // On this host (a repack): hello's tree is pulled from the volume, verified, not rebuilt.
    s.p.nodes();
    const r3 = await s.p.run(['hello:amd64', '--compression', 'zstd-3', '--plain']);
    assert.is(r3.code, 0, r3.all);
    assert.match(r3.stdout, /hello:amd64: stale \(option --compression changed \(xz -> zstd-3\)\)/);
    assert.match(r3.stdout, /hello:amd64\/packages: tree pulled from builder far \(volume trees-left, sha256 [0-9a-f]{12} verified\)/);
    assert.equal(s.p.nodes(), ['hello:amd64'], 'only the pack ran: the packages layer was not rebuilt');
    assert.ok(existsSync(join(treeDir(s.paths, rec.tree), 'rootfs', 'etc', 'layers')), 'the tree is on this host now');
    assert.equal(s.node('hello:amd64/packages'), rec, 'the record is the same: still on the builder too');
    const pull = s.calls().filter((c) => /far:bld-pull-/.test(c));
    assert.is(pull.filter((c) => c.startsWith('launch ')).length, 1, 'one pull container');
    assert.is(pull.filter((c) => c.startsWith('delete --force ')).length, 1, 'deleted');
  } finally {
    s.cleanup();
  }
});

test('a tree left on the builder that is not the recorded one there is never used: restored on the builder, the pack runs again', async () => {
  const s = await setup();
  try {
    assert.is((await s.p.run(['hello:amd64', '--builder', 'far', '--plain'], ON_BUILDER)).code, 0);
    const rec = s.node('hello:amd64/packages');
    // Another tree under the same key, self-consistent (its own sha256 file matches).
    const e = s.entry(rec.tree);
    const other = join(s.p.dir, 'other');
    mkdirSync(join(other, 'etc'), { recursive: true });
    writeFileSync(join(other, 'etc', 'intruder'), 'not ours\n');
    spawnSync('tar', ['-C', other, '-cf', join(e, 'rootfs.tar'), '.']);
    writeFileSync(join(e, 'sha256'), sha(join(e, 'rootfs.tar')) + '\n');
    s.p.nodes();
    const r = await s.p.run(['hello:amd64', '--builder', 'far', '--compression', 'zstd-3', '--plain'], ON_BUILDER);
    assert.is(r.code, 0, r.all);
    assert.match(r.stdout, /hello:amd64\/packages: tree lost on the builder side: [0-9a-f]+: not the recorded tree \(sha256:[0-9a-f]+, recorded [0-9a-f]+\); restoring it/);
    assert.equal(s.p.nodes(), ['hello:amd64', 'hello:amd64/packages'], 'the packages layer was built again, then the pack');
    const now = s.node('hello:amd64/packages');
    assert.is(now.remote!.sha256, sha(join(e, 'rootfs.tar')), 'the record names what is in the volume now');
    assert.is.not(now.remote!.sha256, rec.remote!.sha256);
    assert.not.match(spawnSync('tar', ['-tf', join(e, 'rootfs.tar')], { encoding: 'utf8' }).stdout, /intruder/, 'the foreign entry was replaced by the rebuilt tree');
    assert.is(now.refreshedAt, rec.refreshedAt, 'a restore: the children see no change');
  } finally {
    s.cleanup();
  }
});

test('a pull that does not verify is not used: the tree is rebuilt here', async () => {
  const s = await setup();
  try {
    assert.is((await s.p.run(['hello:amd64', '--builder', 'far', '--plain'], ON_BUILDER)).code, 0);
    const rec = s.node('hello:amd64/packages');
    writeFileSync(join(s.entry(rec.tree), 'rootfs.tar'), 'corrupted');
    s.p.nodes();
    const r = await s.p.run(['hello:amd64', '--compression', 'zstd-3', '--plain']);
    assert.is(r.code, 0, r.all);
    assert.match(r.stdout, /hello:amd64\/packages: pulling the tree from builder far failed \(the volume's entry is not the recorded tree \(sha256 [0-9a-f]{12}, 9 bytes; recorded [0-9a-f]{12}, \d+\)\); building it/);
    assert.equal(s.p.nodes(), ['hello:amd64', 'hello:amd64/packages'], 'built here instead');
    assert.not.ok(s.node('hello:amd64/packages').remote, 'and recorded as a tree of this host');
  } finally {
    s.cleanup();
  }
});

test('a writable remote cache: trees built on the builder come back (the uploads need their bytes)', async () => {
  const s = await setup();
  try {
    // An unreachable cache: the build goes on, the trees come back all the same.
    const r = await s.p.run(['hello:amd64', '--builder', 'far', '--cache', 'http://127.0.0.1:9/', '--plain'], ON_BUILDER);
    assert.is(r.code, 0, r.all);
    const rec = s.node('hello:amd64/packages');
    assert.not.ok(rec.remote);
    assert.ok(existsSync(join(treeDir(s.paths, rec.tree), 'rootfs', 'etc', 'layers')));
  } finally {
    s.cleanup();
  }
});

test.run();
