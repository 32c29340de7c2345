/**
 * Cluster builders, against the fake `incus` (FAKE_INCUS_CLUSTER: the members `incus cluster list`
 * reports): a node goes to an online member of its architecture with that architecture's builder
 * image (`--target`), members of an architecture are taken in turn, and without a member of the
 * node's architecture it runs through qemu-user on a member that has a builder image, which the
 * log says. `build hello:arm64 --builder far` on a cluster with an arm64 member builds the arm64
 * builder image here, imports it, and launches every hello node on the arm64 member.
 * No real cluster: this is the plan of docs/scale.md, tested against the fake only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Placer, parseMembers } from '../../lib/builder/placement.ts';
import { IncusExecutor } from '../../lib/builder/incus-executor.ts';
import { builderConfig } from '../../lib/builder/config.ts';
import { UserError } from '../../lib/diagnostics.ts';
import { NodeLog } from '../../lib/graph/distrobuilder.ts';
import type { RunEvent } from '../../lib/graph/events.ts';
import { ROOT } from '../helpers.ts';
import { FAKE, parseReport, project } from '../graph/project.ts';

const FAKE_INCUS = join(ROOT, 'test', 'fixtures', 'fake-incus');
const CLUSTER = JSON.stringify([
  { server_name: 'm-amd-1', architecture: 'x86_64', status: 'Online' },
  { server_name: 'm-arm-1', architecture: 'aarch64', status: 'Online' },
  { server_name: 'm-arm-2', architecture: 'aarch64', status: 'Online' },
  { server_name: 'm-arm-off', architecture: 'aarch64', status: 'Offline' },
]);

test('placement: a member of the node\'s architecture in turn; offline members skipped; none: qemu on a member with an image', () => {
  const members = parseMembers(CLUSTER);
  assert.equal(members.map((m) => m.arch), ['amd64', 'arm64', 'arm64', 'arm64']);
  const p = new Placer(members, { amd64: 'far:amd-img', arm64: 'far:arm-img' });
  assert.equal(p.place('arm64', 'far:amd-img'), { target: 'm-arm-1', image: 'far:arm-img' });
  assert.equal(p.place('arm64', 'far:amd-img'), { target: 'm-arm-2', image: 'far:arm-img' });
  assert.equal(p.place('arm64', 'far:amd-img'), { target: 'm-arm-1', image: 'far:arm-img' }, 'm-arm-off is never picked');
  assert.equal(p.place('amd64', 'far:amd-img'), { target: 'm-amd-1', image: 'far:amd-img' });
  const amdOnly = new Placer(parseMembers(JSON.stringify([{ server_name: 'a1', architecture: 'x86_64', status: 'Online' }, { server_name: 'a2', architecture: 'x86_64', status: 'Online' }])), { amd64: 'far:amd-img' });
  const q = amdOnly.place('arm64', 'far:amd-img');
  assert.equal(q, { target: 'a1', image: 'far:amd-img', emulated: 'no online cluster member of architecture arm64: running through qemu-user inside a builder on a1 (x86_64)' });
  assert.is(amdOnly.place('arm64', 'far:amd-img').target, 'a2', 'the emulated nodes spread too');
  // An arm64 member without an arm64 builder image: emulated on amd64, never the arm64 member with an amd64 image.
  assert.is(new Placer(members, { amd64: 'far:amd-img' }).place('arm64', 'far:amd-img').target, 'm-amd-1');
  // Not a cluster: no --target, the one image.
  assert.equal(new Placer([], { amd64: 'far:amd-img' }).place('arm64', 'far:amd-img'), { image: 'far:amd-img' });
});

/** A fake remote that is a cluster; PATH finds the fake incus first. */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'bld-place-'));
  const remote = join(dir, 'remote');
  mkdirSync(remote);
  const saved = { PATH: process.env.PATH, FAKE_INCUS_DIR: process.env.FAKE_INCUS_DIR, FAKE_DB: process.env.FAKE_DB, FAKE_INCUS_CLUSTER: process.env.FAKE_INCUS_CLUSTER };
  Object.assign(process.env, { PATH: `${FAKE_INCUS}:${process.env.PATH}`, FAKE_INCUS_DIR: remote, FAKE_DB: FAKE, FAKE_INCUS_CLUSTER: CLUSTER });
  return {
    dir, remote,
    calls: () => (existsSync(join(remote, 'calls.log')) ? readFileSync(join(remote, 'calls.log'), 'utf8').trim().split('\n') : []),
    cleanup() {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('the executor launches with --target, and logs the qemu fallback', async () => {
  const s = setup();
  try {
    const run = async (arch: 'amd64' | 'arm64', images: Record<string, string>) => {
      const tmp = join(s.dir, 'tmp', `n-${arch}-${Object.keys(images).length}`);
      mkdirSync(tmp, { recursive: true });
      const def = join(tmp, 'definition.yaml');
      writeFileSync(def, `image:\n  distribution: debian\n  name: hello-${arch}\n  architecture: ${arch}\nsource:\n  downloader: debootstrap\n`);
      const log = new NodeLog(join(tmp, 'node.log'));
      const events: RunEvent[] = [];
      const ex = new IncusExecutor({ remote: 'far', image: images.amd64, images, members: parseMembers(CLUSTER) });
      const failed = await ex.run({ arch, run: { exe: 'distrobuilder', args: ['build-dir', def, join(tmp, 'tree', 'rootfs')], tmp, target: `hello:${arch}/packages`, log, env: { ...process.env }, signal: new AbortController().signal, emit: (e) => events.push(e) }, inputs: [def], outputs: [join(tmp, 'tree')] });
      await log.close();
      return { failed, log: readFileSync(log.file, 'utf8'), stages: events.flatMap((e) => (e.type === 'stage' ? [e.stage] : [])) };
    };
    const native = await run('arm64', { amd64: 'far:amd-img', arm64: 'far:arm-img' });
    assert.is(native.failed, undefined);
    assert.ok(s.calls().some((c) => /^launch far:arm-img far:bld-hello-arm64-packages-[0-9a-f]{6} --ephemeral --target m-arm-1 /.test(c)), s.calls().join('\n'));
    assert.match(native.log, /container bld-hello-arm64-packages-\S+ on member m-arm-1 \(image far:arm-img\)/);
    assert.not.match(native.log, /qemu/);
    const emulated = await run('arm64', { amd64: 'far:amd-img' });
    assert.is(emulated.failed, undefined);
    assert.ok(s.calls().some((c) => /^launch far:amd-img \S+ --ephemeral --target m-amd-1 /.test(c)));
    assert.match(emulated.log, /# builder: no online cluster member of architecture arm64: running through qemu-user inside a builder on m-amd-1 \(x86_64\)/);
    assert.ok(emulated.stages.some((x) => x.startsWith('no online cluster member of architecture arm64')));
  } finally {
    s.cleanup();
  }
});

test('build hello:arm64 --builder far on a cluster with arm64 members: the arm64 builder image is built and imported, every node runs on an arm64 member', async () => {
  const s = setup();
  const p = project();
  try {
    cpSync(join(ROOT, 'appliances', 'builder'), join(p.dir, 'appliances', 'builder'), { recursive: true });
    const r = await p.run(['hello:arm64', '--builder', 'far', '--json'], { DISTROBUILDER: FAKE, FAKE_INCUS_CLUSTER: CLUSTER, APPLIANCE_BUILDER_VOLUME: 'none' });
    assert.is(r.code, 0, r.all);
    assert.is(parseReport(r).targets.find((t) => t.target === 'hello:arm64')?.status, 'built');
    const imports = s.calls().filter((c) => c.startsWith('image import '));
    assert.is(imports.length, 2, 'the builder image of both architectures the cluster has');
    assert.ok(imports.some((c) => c.includes('builder-arm64')), imports.join('\n'));
    const launches = s.calls().filter((c) => c.startsWith('launch '));
    assert.ok(launches.length >= 2, launches.join('\n'));
    for (const l of launches) assert.match(l, /--target m-arm-[12] /, l);
    assert.equal(readdirSync(join(s.remote, 'instances')), [], 'no builder container left');
  } finally {
    p.cleanup();
    s.cleanup();
  }
});

test('placement: a configured target (member or @group) pins the architectures it names that have an image; the others as before', () => {
  const members = parseMembers(CLUSTER);
  const p = new Placer(members, { amd64: 'far:amd-img', arm64: 'far:arm-pub' }, { arm64: '@arm' });
  assert.equal(p.place('arm64', 'far:amd-img'), { target: '@arm', image: 'far:arm-pub' });
  assert.equal(p.place('arm64', 'far:amd-img'), { target: '@arm', image: 'far:arm-pub' }, 'always the group: Incus picks its member');
  assert.equal(p.place('amd64', 'far:amd-img'), { target: 'm-amd-1', image: 'far:amd-img' }, 'amd64 not pinned: a member in turn');
  const all = new Placer(members, { amd64: 'far:amd-img' }, { all: '@builders' });
  assert.equal(all.place('amd64', 'far:amd-img'), { target: '@builders', image: 'far:amd-img' });
  assert.match(all.place('arm64', 'far:amd-img').emulated ?? '', /no online cluster member of architecture arm64|running through qemu-user/, 'no arm64 image: not pinned, qemu as before');
});

test('builder.image and builder.target by architecture in build.config.json; errors name the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bld-target-'));
  const conf = (b: unknown) => {
    writeFileSync(join(dir, 'build.config.json'), JSON.stringify({ builder: b }));
    try {
      return builderConfig(dir, undefined);
    } catch (e) {
      assert.instance(e, UserError);
      return (e as Error).message;
    }
  };
  try {
    assert.equal(conf({ remote: 'ci', image: { arm64: 'ci:builder-arm64' }, target: { arm64: '@arm', amd64: 'm1' } }),
      { remote: 'ci', project: undefined, jobs: undefined, image: undefined, distrobuilder: undefined, images: { arm64: 'ci:builder-arm64' }, targets: { arm64: '@arm', amd64: 'm1' }, origin: 'build.config.json' });
    assert.equal(conf({ remote: 'ci', image: 'ci:b', target: '@builders' }), { remote: 'ci', project: undefined, jobs: undefined, image: 'ci:b', distrobuilder: undefined, targets: { all: '@builders' }, origin: 'build.config.json' });
    assert.is(conf({ remote: 'ci', target: { riscv64: '@r' } }), 'build.config.json: builder.target.riscv64: unknown architecture (known: amd64, arm64)');
    assert.is(conf({ remote: 'ci', target: { arm64: '@ bad' } }), 'build.config.json: builder.target.arm64: expected a cluster member or @group, got "@ bad"');
    assert.is(conf({ remote: 'ci', target: ['@a'] }), 'build.config.json: builder.target: expected a cluster member or @group, or an object by architecture (amd64, arm64)');
    assert.is(conf({ remote: 'ci', image: { arm64: '' } }), 'build.config.json: builder.image.arm64: expected a builder image (REMOTE:ALIAS or a fingerprint), got ""');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('build hello:arm64 --builder far with a published arm64 builder image and arm64 pinned to a cluster group: no image built here, every node launched with --target @arm', async () => {
  const s = setup();
  const p = project();
  try {
    cpSync(join(ROOT, 'appliances', 'builder'), join(p.dir, 'appliances', 'builder'), { recursive: true });
    writeFileSync(join(p.dir, 'build.config.json'), JSON.stringify({ builder: { remote: 'far', image: { amd64: 'far:builder-amd64', arm64: 'far:builder-arm64' }, target: { arm64: '@arm' }, distrobuilder: '3.2' } }));
    const r = await p.run(['hello:arm64', '--json'], { DISTROBUILDER: FAKE, FAKE_INCUS_CLUSTER: CLUSTER, APPLIANCE_BUILDER_VOLUME: 'none' });
    assert.is(r.code, 0, r.all);
    assert.is(parseReport(r).targets.find((t) => t.target === 'hello:arm64')?.status, 'built');
    assert.equal(s.calls().filter((c) => c.startsWith('image import ')), [], 'the configured images: none built or imported');
    const launches = s.calls().filter((c) => c.startsWith('launch '));
    assert.ok(launches.length >= 2, launches.join('\n'));
    for (const l of launches) assert.match(l, /^launch far:builder-arm64 far:bld-\S+ --ephemeral --target @arm /, l);
    // The same target on a remote that is not a cluster: a clear error naming the file and field.
    const flat = await p.run(['hello:arm64', '--force'], { DISTROBUILDER: FAKE, FAKE_INCUS_CLUSTER: '', APPLIANCE_BUILDER_VOLUME: 'none' });
    assert.is(flat.code, 1, flat.all);
    assert.match(flat.stderr, /build\.config\.json: builder\.target: far is not a cluster \(a member or @group needs one\)/);
    assert.not.match(flat.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    p.cleanup();
    s.cleanup();
  }
});

test.run();
