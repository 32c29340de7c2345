/** The registry stage: layout, JSON types, hashes, incremental re-index, version keys, retention, grace, dropTargets. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import type { IndexEvent } from '../../lib/registry/api.ts';
import { addImages, dropTargets, prune, readImages } from '../../lib/registry/index.ts';
import { checkImagesJson, nextVersionKey, versionDate, type ImagesJson } from '../../lib/registry/format.ts';
import { verifyRegistry } from '../../lib/registry/verify.ts';
import { fakeImage, withTools, scratch } from './fake-images.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);

async function rejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.match(String((e as Error).message), re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}
function readJson(p: string): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(readFileSync(p, 'utf8'));
}

test('layout, JSON types, both metadata items, combined hash, aliases as one string', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    const a = await fakeImage(s.dir, { name: 'nginx', version: '1.26', arch: 'amd64' });
    const b = await fakeImage(s.dir, { name: 'nginx', version: '1.26', arch: 'arm64' });
    await addImages(reg, [a, b]);
    assert.ok(existsSync(join(reg, 'streams/v1/index.json')));
    const index = readJson(join(reg, 'streams/v1/index.json'));
    assert.equal(index, {
      format: 'index:1.0',
      index: { images: { datatype: 'image-downloads', path: 'streams/v1/images.json', format: 'products:1.0', products: ['nginx:amd64:default', 'nginx:arm64:default'] } },
    });
    const images = readJson(join(reg, 'streams/v1/images.json'));
    assert.equal(checkImagesJson(images), []);
    assert.is(images.content_id, 'images');
    assert.is(images.datatype, 'image-downloads');
    assert.is(images.format, 'products:1.0');
    const p = images.products['nginx:amd64:default'];
    assert.type(p.aliases, 'string');
    assert.is(p.aliases, 'nginx,nginx/1.26');
    assert.is(p.arch, 'amd64');
    assert.is(images.products['nginx:arm64:default'].arch, 'arm64');
    assert.is(p.os, 'nginx');
    assert.is(p.release, '1.26');
    assert.is(p.release_title, '1.26 on Debian 13 (trixie)');
    assert.is(p.variant, 'default');
    assert.equal(p.requirements, {});
    const keys = Object.keys(p.versions);
    assert.equal(keys, ['20261126_14:05']);
    const items = p.versions[keys[0]].items;
    assert.equal(Object.keys(items).sort(), ['incus.tar.xz', 'lxd.tar.xz', 'root.squashfs']);
    const meta = readFileSync(a.metadataPath);
    const root = readFileSync(a.rootfsPath);
    assert.is(items['incus.tar.xz'].ftype, 'incus.tar.xz');
    assert.is(items['lxd.tar.xz'].ftype, 'lxd.tar.xz');
    assert.is(items['root.squashfs'].ftype, 'squashfs');
    for (const k of ['incus.tar.xz', 'lxd.tar.xz']) {
      assert.is(items[k].sha256, sha256(meta));
      assert.is(items[k].size, meta.length);
      assert.ok(Number.isInteger(items[k].size));
      assert.is(items[k].path, `images/${sha256(meta)}.incus.tar.xz`);
      assert.is(items[k].combined_squashfs_sha256, sha256(Buffer.concat([meta, root])));
    }
    assert.is(items['root.squashfs'].sha256, sha256(root));
    assert.is(items['root.squashfs'].size, root.length);
    assert.is(items['root.squashfs'].path, `images/${sha256(root)}.squashfs`);
    // Content-addressed files hold exactly those bytes.
    assert.ok(readFileSync(join(reg, items['root.squashfs'].path)).equals(root));
    assert.ok(readFileSync(join(reg, items['incus.tar.xz'].path)).equals(meta));
    // No temporary files left, dot files only for state and lock.
    assert.equal(readdirSync(join(reg, 'images')).filter((n) => n.startsWith('.')), []);
    assert.equal((await verifyRegistry(reg)).errors, []);
  } finally {
    s.cleanup();
  }
});

test('re-indexing hashes only the new files (existing ones are not read again)', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await fakeImage(s.dir, { name: `app${i}`, builtAt: new Date(T0) }));
    const r1 = await addImages(reg, first);
    assert.is(r1.hashed.length, 8);
    // Damage an existing file: an incremental add must not notice (it never reads it) ...
    const images = await readImages(reg);
    const victim = join(reg, images.products['app0:amd64:default'].versions['20261126_14:05'].items['root.squashfs'].path);
    const bytes = readFileSync(victim);
    bytes[100] ^= 0xff;
    writeFileSync(victim, bytes);
    const events: IndexEvent[] = [];
    const extra = await fakeImage(s.dir, { name: 'app9', builtAt: new Date(T0 + MIN) });
    const r2 = await addImages(reg, [extra], { onEvent: (e) => events.push(e) });
    assert.equal(r2.hashed, [extra.metadataPath, extra.rootfsPath]);
    assert.equal(events.filter((e) => e.type === 'hash').map((e) => (e as { path: string }).path), [extra.metadataPath, extra.rootfsPath]);
    // ... while verify, which re-hashes everything, does.
    const v = await verifyRegistry(reg);
    assert.ok(v.errors.length >= 1);
    assert.ok(v.errors.every((e) => e.startsWith('app0:amd64:default ')), v.errors.join('\n'));
    assert.ok(v.errors.some((e) => /root\.squashfs.*sha256/.test(e)));
  } finally {
    s.cleanup();
  }
});

test('two builds in one minute get distinct version keys; the newer sorts first and owns the aliases', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    const a = await fakeImage(s.dir, { builtAt: new Date(T0 + 10_000) });
    const b = await fakeImage(s.dir, { builtAt: new Date(T0 + 50_000) });
    await addImages(reg, [a]);
    const r = await addImages(reg, [b]);
    assert.is(r.added[0].version, '20261126_14:05_001');
    const p = (await readImages(reg)).products['nginx:amd64:default'];
    const keys = Object.keys(p.versions).sort().reverse();
    assert.equal(keys, ['20261126_14:05_001', '20261126_14:05']);
    assert.is(p.versions[keys[0]].items['incus.tar.xz'].combined_squashfs_sha256, r.added[0].fingerprint);
    // Both dates parse the way Incus parses them (first 8 characters).
    for (const k of keys) assert.is(versionDate(k)?.toISOString(), '2026-11-26T14:05:00.000Z');
  } finally {
    s.cleanup();
  }
});

test('version keys: suffixes keep string order equal to build order', () => {
  const d = new Date(T0);
  assert.is(nextVersionKey(d, []), '20261126_14:05');
  assert.is(nextVersionKey(d, ['20261126_14:05']), '20261126_14:05_001');
  const taken = ['20261126_14:05'];
  for (let i = 0; i < 12; i++) taken.push(nextVersionKey(d, taken));
  assert.equal([...taken].sort(), taken, 'lexical order is build order');
  assert.is(taken.at(-1), '20261126_14:05_012');
  assert.is(nextVersionKey(new Date(Date.UTC(2026, 0, 2, 3, 4)), []), '20260102_03:04');
  assert.is(versionDate('2026112'), undefined);
  assert.is(versionDate('20261399_00:00'), undefined);
});

test('the same image added twice adds no version', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    const a = await fakeImage(s.dir);
    await addImages(reg, [a]);
    const events: IndexEvent[] = [];
    const r = await addImages(reg, [{ ...a, builtAt: new Date(T0 + 5 * MIN) }], { onEvent: (e) => events.push(e) });
    assert.equal(r.added, []);
    assert.ok(events.some((e) => e.type === 'unchanged'));
    assert.equal(Object.keys((await readImages(reg)).products['nginx:amd64:default'].versions), ['20261126_14:05']);
  } finally {
    s.cleanup();
  }
});

test('a file that is not a squashfs / xz tarball is refused and leaves nothing behind', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    const a = await fakeImage(s.dir);
    await addImages(reg, [a]);
    const before = readFileSync(join(reg, 'streams/v1/images.json'), 'utf8');
    const bogus = join(s.dir, 'bogus.squashfs');
    writeFileSync(bogus, 'not a squashfs at all');
    const b = await fakeImage(s.dir, { builtAt: new Date(T0 + MIN) });
    await rejects(() => addImages(reg, [{ ...b, rootfsPath: bogus }]), /not a squashfs/);
    await rejects(() => addImages(reg, [{ ...b, metadataPath: b.rootfsPath }]), /not a xz metadata tarball/);
    await rejects(() => addImages(reg, [{ ...b, version: '1,2' }]), /version/);
    assert.is(readFileSync(join(reg, 'streams/v1/images.json'), 'utf8'), before);
    assert.equal(readdirSync(join(reg, 'images')).filter((n) => n.startsWith('.tmp')), []);
    assert.is(readdirSync(join(reg, 'images')).length, 2);
  } finally {
    s.cleanup();
  }
});

test('retention keeps the newest N; files of dropped versions stay for the grace period, across runs', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    let now = T0;
    const clock = { now: () => new Date(now) };
    const builds = [];
    for (let i = 0; i < 4; i++) builds.push(await fakeImage(s.dir, { builtAt: new Date(T0 + i * MIN) }));
    for (const b of builds.slice(0, 3)) await addImages(reg, [b], { keep: 3, ...clock });
    const oldest = (await readImages(reg)).products['nginx:amd64:default'].versions['20261126_14:05'];
    const oldFiles = [oldest.items['incus.tar.xz'].path, oldest.items['root.squashfs'].path];

    now = T0 + 10 * MIN;
    const r = await addImages(reg, [builds[3]], { keep: 3, ...clock });
    assert.equal(r.dropped, [{ product: 'nginx:amd64:default', version: '20261126_14:05', reason: 'retention' }]);
    assert.equal(Object.keys((await readImages(reg)).products['nginx:amd64:default'].versions).sort(), ['20261126_14:06', '20261126_14:07', '20261126_14:08']);
    assert.equal(r.pending.map((p) => p.file).sort(), [...oldFiles].sort());
    assert.is(r.pending[0].until.toISOString(), new Date(now + 2 * HOUR).toISOString());
    for (const f of oldFiles) assert.ok(existsSync(join(reg, f)), `${f} kept during the grace period`);
    const state = readJson(join(reg, '.state.json'));
    assert.equal(Object.keys(state.pending).sort(), [...oldFiles].sort());

    now = T0 + 10 * MIN + HOUR; // a later run, still within the grace period
    const r2 = await prune(reg, { keep: 3, ...clock });
    assert.equal(r2.deleted, []);
    for (const f of oldFiles) assert.ok(existsSync(join(reg, f)));

    now = T0 + 10 * MIN + 2 * HOUR + 1; // grace over
    const dry = await prune(reg, { keep: 3, ...clock, dryRun: true });
    assert.equal(dry.deleted.sort(), [...oldFiles].sort());
    for (const f of oldFiles) assert.ok(existsSync(join(reg, f)), 'dry run deletes nothing');
    const r3 = await prune(reg, { keep: 3, ...clock });
    assert.equal(r3.deleted.sort(), [...oldFiles].sort());
    for (const f of oldFiles) assert.not.ok(existsSync(join(reg, f)));
    assert.equal(readJson(join(reg, '.state.json')).pending, {});
    assert.equal((await verifyRegistry(reg)).errors, []);

    // keep option: down to 1 version.
    now += MIN;
    const r4 = await prune(reg, { keep: 1, ...clock });
    assert.is(r4.dropped.length, 2);
    assert.is(r4.pending.length, 4);
  } finally {
    s.cleanup();
  }
});

test('stray files (a killed run, a lost state file) get the grace period too, never immediate deletion', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    let now = T0;
    const clock = { now: () => new Date(now) };
    await addImages(reg, [await fakeImage(s.dir)], clock);
    writeFileSync(join(reg, 'images', `${'ab'.repeat(32)}.squashfs`), 'stray');
    rmSync(join(reg, '.state.json'));
    now += 3 * HOUR;
    const r = await prune(reg, clock);
    assert.equal(r.deleted, []);
    assert.equal(r.pending.map((p) => p.file), [`images/${'ab'.repeat(32)}.squashfs`]);
    now += 2 * HOUR;
    assert.equal((await prune(reg, clock)).deleted, [`images/${'ab'.repeat(32)}.squashfs`]);
  } finally {
    s.cleanup();
  }
});

test('dropTargets removes products whose appliance or architecture is gone; files follow the grace period', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    let now = T0;
    const clock = { now: () => new Date(now) };
    await addImages(reg, [
      await fakeImage(s.dir, { name: 'nginx', arch: 'amd64' }),
      await fakeImage(s.dir, { name: 'nginx', arch: 'arm64' }),
      await fakeImage(s.dir, { name: 'redis', arch: 'amd64', version: '7.2' }),
    ], clock);
    now += MIN;
    const r = await dropTargets(reg, (name, arch) => name === 'nginx' && arch === 'amd64', clock);
    assert.equal(r.dropped.map((d) => d.product).sort(), ['nginx:arm64:default', 'redis:amd64:default']);
    assert.ok(r.dropped.every((d) => d.reason === 'target-gone'));
    const images = await readImages(reg);
    assert.equal(Object.keys(images.products), ['nginx:amd64:default']);
    assert.equal(readJson(join(reg, 'streams/v1/index.json')).index.images.products, ['nginx:amd64:default']);
    assert.is(r.pending.length, 4);
    for (const p of r.pending) assert.ok(existsSync(join(reg, p.file)));
    now += 2 * HOUR + MIN;
    assert.is((await prune(reg, clock)).deleted.length, 4);
    assert.equal((await verifyRegistry(reg)).errors, []);
  } finally {
    s.cleanup();
  }
});

test('dropTargets with purgeDropped deletes the dropped files at once; files pending from earlier runs keep their wait', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    let now = T0;
    const clock = { now: () => new Date(now) };
    await addImages(reg, [
      await fakeImage(s.dir, { name: 'nginx', arch: 'amd64' }),
      await fakeImage(s.dir, { name: 'demo', arch: 'amd64' }),
    ], clock);
    // An older nginx version leaves the index by retention: its files wait for the grace period.
    now += MIN;
    await addImages(reg, [await fakeImage(s.dir, { name: 'nginx', arch: 'amd64', builtAt: new Date(now) })], { ...clock, keep: 1 });
    const waiting = (await prune(reg, { ...clock, dryRun: true })).pending.map((p) => p.file);
    assert.is(waiting.length, 2);
    const demoFiles = Object.values((await readImages(reg)).products['demo:amd64:default'].versions).flatMap((v) => Object.values(v.items).map((i) => i.path));
    now += MIN;
    const r = await dropTargets(reg, (name) => name !== 'demo', { ...clock, purgeDropped: true });
    assert.equal(r.dropped.map((d) => d.product), ['demo:amd64:default']);
    assert.equal([...new Set(r.deleted)].sort(), [...new Set(demoFiles)].sort(), 'the demo files, and only them');
    for (const f of demoFiles) assert.not.ok(existsSync(join(reg, f)), f);
    assert.equal(r.pending.map((p) => p.file).sort(), waiting.sort(), 'the older nginx files still wait');
    for (const f of waiting) assert.ok(existsSync(join(reg, f)), f);
    assert.equal((await verifyRegistry(reg)).errors, []);
  } finally {
    s.cleanup();
  }
});

test('shape check catches what makes clients drop the whole file', () => {
  const good = (): ImagesJson => ({
    content_id: 'images', datatype: 'image-downloads', format: 'products:1.0',
    products: {
      'a:amd64:default': {
        aliases: 'a,a/1', arch: 'amd64', os: 'a', release: '1', release_title: '1', variant: 'default', requirements: {},
        versions: { '20261126_14:05': { items: {
          'incus.tar.xz': { ftype: 'incus.tar.xz', path: 'images/x', sha256: 'a'.repeat(64), size: 1, combined_squashfs_sha256: 'c'.repeat(64) },
          'lxd.tar.xz': { ftype: 'lxd.tar.xz', path: 'images/x', sha256: 'a'.repeat(64), size: 1, combined_squashfs_sha256: 'c'.repeat(64) },
          'root.squashfs': { ftype: 'squashfs', path: 'images/y', sha256: 'b'.repeat(64), size: 2 },
        } } },
      },
    },
  });
  assert.equal(checkImagesJson(good()), []);
  const bad = (f: (j: any) => void) => { const j = good() as any; f(j); return checkImagesJson(j).join('\n'); }; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.match(bad((j) => { j.products['a:amd64:default'].aliases = ['a']; }), /aliases must be a string/);
  assert.match(bad((j) => { j.products['a:amd64:default'].versions['20261126_14:05'].items['root.squashfs'].size = '2'; }), /size must be a non-negative integer/);
  assert.match(bad((j) => { j.products['a:amd64:default'].requirements = { nesting: true }; }), /requirements.nesting must be a string/);
  assert.match(bad((j) => { j.products['a:amd64:default'].arch = 'x86-64'; }), /unknown to Incus/);
  assert.match(bad((j) => { j.products['a:amd64:default'].versions = { '2026-11-26': j.products['a:amd64:default'].versions['20261126_14:05'] }; }), /version key/);
  assert.match(bad((j) => { delete j.products['a:amd64:default'].versions['20261126_14:05'].items['lxd.tar.xz']; }), /no lxd.tar.xz item/);
  assert.match(bad((j) => { delete j.products['a:amd64:default'].versions['20261126_14:05'].items['incus.tar.xz'].combined_squashfs_sha256; }), /combined_squashfs_sha256|differs/);
  assert.match(bad((j) => { j.products['b:amd64:default'] = { ...j.products['a:amd64:default'], aliases: 'b,a/1' }; }), /alias "a\/1" is also on/);
  assert.equal(bad((j) => { j.products['b:arm64:default'] = { ...j.products['a:amd64:default'], arch: 'arm64' }; }), '', 'same alias on another architecture is fine');
});

(await withTools(test, { cmd: 'incus-simplestreams', why: 'install incus-extra to run the reference verifier' }))('oracle: incus-simplestreams verify passes and list shows our images with their aliases', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    const imgs = [
      await fakeImage(s.dir, { name: 'nginx', arch: 'amd64' }),
      await fakeImage(s.dir, { name: 'nginx', arch: 'arm64' }),
      await fakeImage(s.dir, { name: 'redis', version: '7.2', arch: 'amd64' }),
    ];
    await addImages(reg, imgs);
    const newer = await addImages(reg, [await fakeImage(s.dir, { name: 'nginx', arch: 'amd64', builtAt: new Date(T0 + 20_000) })]);
    const v = await execa('incus-simplestreams', ['verify'], { cwd: reg, reject: false });
    assert.is(v.exitCode, 0, `incus-simplestreams verify: ${v.stderr}`);
    const l = await execa('incus-simplestreams', ['list', '--format', 'json'], { cwd: reg });
    const listed = JSON.parse(l.stdout) as { fingerprint: string; aliases: { name: string }[] | null; properties: Record<string, string> }[];
    assert.is(listed.length, 4);
    const byFp = new Map(listed.map((i) => [i.fingerprint, i]));
    const newest = byFp.get(newer.added[0].fingerprint);
    assert.ok(newest, 'the newest build is listed');
    assert.equal(newest!.aliases!.map((a) => a.name).sort(), ['nginx', 'nginx/1.26', 'nginx/1.26/amd64', 'nginx/amd64']);
    const names = listed.flatMap((i) => (i.aliases ?? []).map((a) => a.name));
    for (const a of ['nginx', 'nginx/1.26', 'nginx/arm64', 'redis', 'redis/7.2']) assert.ok(names.includes(a), `alias ${a} listed`);
    assert.is(names.filter((n) => n === 'nginx').length, 1, 'one owner per alias');
    assert.is(newest!.properties.description, 'nginx 1.26 on Debian 13 (trixie) amd64 (20261126_14:05_001)');
    // A flipped byte fails the reference verifier too.
    const images = await readImages(reg);
    const f = join(reg, images.products['redis:amd64:default'].versions['20261126_14:05'].items['incus.tar.xz'].path);
    const b = readFileSync(f);
    b[b.length - 1] ^= 1;
    writeFileSync(f, b);
    assert.is.not((await execa('incus-simplestreams', ['verify'], { cwd: reg, reject: false })).exitCode, 0);
  } finally {
    s.cleanup();
  }
});

test.run();
