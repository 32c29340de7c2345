/** The registry verbs through the CLI: verify, registry-list, prune, publish. */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../helpers.ts';
import { addImages, readImages } from '../../lib/registry/index.ts';
import { isRsyncDestination, publish, type PublishStep } from '../../lib/registry/publish.ts';
import { verifyRegistry } from '../../lib/registry/verify.ts';
import { fakeImage, withTools, scratch } from './fake-images.ts';

const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);
const MIN = 60_000;

/** A registry with nginx amd64 (4 builds), nginx arm64 (1) and a gone appliance "ghost". */
async function sample(dir: string): Promise<string> {
  const reg = join(dir, 'registry');
  const imgs = [];
  for (let i = 0; i < 4; i++) imgs.push(await fakeImage(dir, { builtAt: new Date(T0 + i * MIN), version: i < 3 ? '1.24' : '1.26' }));
  imgs.push(await fakeImage(dir, { arch: 'arm64', builtAt: new Date(T0) }));
  imgs.push(await fakeImage(dir, { name: 'ghost', version: '0.1', builtAt: new Date(T0) }));
  await addImages(reg, imgs, { keep: 10 });
  return reg;
}

test('verify: OK on a good registry, exit 1 naming a flipped byte and a missing file', async () => {
  const s = scratch();
  try {
    const reg = await sample(s.dir);
    const ok = await runCli(['verify', '--registry', reg]);
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /verify: OK: 6 version\(s\), 12 file\(s\)/);

    const images = await readImages(reg);
    const v = images.products['nginx:arm64:default'].versions['20261126_14:05'];
    const root = join(reg, v.items['root.squashfs'].path);
    const b = readFileSync(root);
    b[b.length >> 1] ^= 0x01; // one flipped bit
    writeFileSync(root, b);
    const flipped = await runCli(['verify', '--registry', reg]);
    assert.is(flipped.code, 1);
    assert.match(flipped.stderr, /nginx:arm64:default 20261126_14:05: item root\.squashfs: .*sha256 [0-9a-f]{64}, index says/);
    assert.match(flipped.stderr, /combined_squashfs_sha256 \(fingerprint\)/);

    const g = images.products['ghost:amd64:default'].versions['20261126_14:05'];
    rmSync(join(reg, g.items['incus.tar.xz'].path));
    const missing = await runCli(['verify', '--registry', reg]);
    assert.is(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`ghost:amd64:default 20261126_14:05: ${g.items['incus.tar.xz'].path}: missing`));
    assert.match(missing.stderr, /sha256 [0-9a-f]{64}, index says/, 'the flipped byte is still reported: every problem, not the first');
    assert.match(missing.stderr, /FAILED: \d+ problem/);
  } finally {
    s.cleanup();
  }
});

test('verify: a malformed images.json and a missing index are errors', async () => {
  const s = scratch();
  try {
    const reg = await sample(s.dir);
    const p = join(reg, 'streams/v1/images.json');
    const j = JSON.parse(readFileSync(p, 'utf8'));
    j.products['nginx:arm64:default'].aliases = ['nginx'];
    writeFileSync(p, JSON.stringify(j));
    rmSync(join(reg, 'streams/v1/index.json'));
    const r = await runCli(['verify', '--registry', reg]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /aliases must be a string/);
    assert.match(r.stderr, /index\.json: missing/);
  } finally {
    s.cleanup();
  }
});

test('registry-list: alias, version, arch, type, size, fingerprint prefix, date', async () => {
  const s = scratch();
  try {
    const reg = await sample(s.dir);
    const r = await runCli(['registry-list', '--registry', reg]);
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^ALIAS\s+VERSION\s+ARCH\s+TYPE\s+SIZE\s+FINGERPRINT\s+DATE \(UTC\)\s+SERIAL$/);
    assert.is(lines.length, 7);
    const images = await readImages(reg);
    const fp = images.products['nginx:amd64:default'].versions['20261126_14:08'].items['incus.tar.xz'].combined_squashfs_sha256!;
    const row = lines.find((l) => l.startsWith('nginx, nginx/1.26 '))!;
    assert.ok(row, r.stdout);
    assert.match(row, new RegExp(`^nginx, nginx/1\\.26\\s+1\\.26\\s+amd64\\s+container\\s+[\\d.]+ KiB\\s+${fp.slice(0, 12)}\\s+2026-11-26 14:08\\s+20261126_14:08$`));
    assert.ok(lines.some((l) => /^\(nginx, older\)\s+1\.24\s+amd64 .* 2026-11-26 14:05 /.test(l)), 'older builds keep their own appliance version');
    assert.ok(lines.some((l) => /^nginx, nginx\/1\.26\s+1\.26\s+arm64 /.test(l)));
    const json = await runCli(['registry-list', '--registry', reg, '--json']);
    const rows = JSON.parse(json.stdout);
    assert.is(rows.length, 6);
    assert.type(rows[0].size, 'number');
    const empty = await runCli(['registry-list', '--registry', join(s.dir, 'none')]);
    assert.match(empty.stdout, /publishes no image yet/);
    writeFileSync(join(reg, 'streams/v1/images.json'), '{"products": [');
    const broken = await runCli(['registry-list', '--registry', reg]);
    assert.is(broken.code, 1);
    assert.match(broken.stderr, /error: .*images\.json: not valid JSON/);
    const prune = await runCli(['prune', '--registry', reg]);
    assert.is(prune.code, 1);
    assert.match(prune.stderr, /refusing to overwrite it/);
  } finally {
    s.cleanup();
  }
});

test('prune --dry-run shows what would go and changes nothing; prune applies it', async () => {
  const s = scratch();
  try {
    const reg = await sample(s.dir);
    const before = readFileSync(join(reg, 'streams/v1/images.json'), 'utf8');
    const dry = await runCli(['prune', '--registry', reg, '--dry-run']);
    assert.is(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would drop nginx:amd64:default version 20261126_14:05 \(beyond the newest 3\)/);
    assert.match(dry.stdout, /would drop ghost:amd64:default: its appliance or architecture no longer exists/);
    assert.not.match(dry.stdout, /nginx:arm64/);
    assert.is(readFileSync(join(reg, 'streams/v1/images.json'), 'utf8'), before);

    const two = await runCli(['prune', '--registry', reg, '--keep', '2']);
    assert.is(two.code, 0, two.stderr);
    assert.match(two.stdout, /^drop nginx:amd64:default version 20261126_14:05 /m);
    assert.match(two.stdout, /^drop nginx:amd64:default version 20261126_14:06 /m);
    assert.match(two.stdout, /^keep images\/[0-9a-f]{64}\.squashfs until /m);
    const images = await readImages(reg);
    assert.equal(Object.keys(images.products).sort(), ['nginx:amd64:default', 'nginx:arm64:default']);
    assert.equal(Object.keys(images.products['nginx:amd64:default'].versions).sort(), ['20261126_14:07', '20261126_14:08']);
    assert.equal((await verifyRegistry(reg)).errors, []);
    const bad = await runCli(['prune', '--registry', reg, '--keep', '0']);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, /--keep: expected an integer >= 1/);
  } finally {
    s.cleanup();
  }
});

test('publish to a folder: images first, then the catalogue pages, then images.json, then index.json, stale files last', async () => {
  const s = scratch();
  try {
    const reg = await sample(s.dir);
    const dest = join(s.dir, 'site');
    mkdirSync(join(dest, 'images'), { recursive: true });
    const stale = `images/${'0'.repeat(64)}.squashfs`;
    writeFileSync(join(dest, stale), 'stale');
    mkdirSync(join(dest, 'appliances'));
    writeFileSync(join(dest, 'appliances', 'gone.html'), 'a page of an appliance the registry no longer holds');
    const steps: PublishStep[] = [];
    await publish(reg, dest, { onStep: (x) => steps.push(x) });
    const ops = steps.map((x) => x.op);
    const firstWrite = ops.indexOf('write');
    assert.is(ops.filter((o) => o === 'copy').length, 12);
    assert.ok(ops.slice(0, firstWrite).every((o) => o === 'copy'), 'every image before any index');
    const pages = ['appliances/ghost.html', 'appliances/nginx.html', 'index.html'].map((file) => ({ op: 'write', file }));
    assert.equal(steps.slice(firstWrite, firstWrite + 5), [...pages, { op: 'write', file: 'streams/v1/images.json' }, { op: 'write', file: 'streams/v1/index.json' }]);
    assert.equal(steps.slice(firstWrite + 5), [{ op: 'delete', file: stale }, { op: 'delete', file: 'appliances/gone.html' }]);
    assert.not.ok(existsSync(join(dest, '.state.json')), 'dot files are not published');
    assert.equal((await verifyRegistry(dest)).errors, []);
    // Again: nothing to copy (content-addressed), indexes rewritten, nothing deleted.
    const again: PublishStep[] = [];
    await publish(reg, dest, { onStep: (x) => again.push(x) });
    assert.equal(again.map((x) => x.op), ['write', 'write', 'write', 'write', 'write']);
    // Through the verb.
    const r = await runCli(['publish', join(s.dir, 'site2'), '--registry', reg]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /published .* \(12 new file\(s\)\)/);
    assert.equal((await verifyRegistry(join(s.dir, 'site2'))).errors, []);
    const none = await runCli(['publish', '--registry', reg]);
    assert.is(none.code, 1);
  } finally {
    s.cleanup();
  }
});

(await withTools(test, { cmd: 'rsync', why: 'publish to user@host:/path uses rsync' }))('publish through rsync (to a local folder): same order, stale files deleted last', async () => {
  const s = scratch();
  try {
    const reg = await sample(s.dir);
    const dest = join(s.dir, 'rsync-site');
    mkdirSync(join(dest, 'images'), { recursive: true });
    writeFileSync(join(dest, 'images', 'stale.squashfs'), 'stale');
    const steps: PublishStep[] = [];
    await publish(reg, dest, { rsync: true, onStep: (x) => steps.push(x) });
    const cmds = steps.map((x) => (x.op === 'run' ? x.command.join(' ') : ''));
    assert.is(cmds.length, 6);
    assert.match(cmds[0], /--exclude=\.\* .*\/images\/ .*rsync-site\/images\/$/);
    assert.not.match(cmds[0], /--delete/);
    assert.match(cmds[1], /\/site\/ .*rsync-site\/$/); // the catalogue pages
    assert.not.match(cmds[1], /--delete/);
    assert.match(cmds[2], /images\.json .*rsync-site\/streams\/v1\/images\.json$/);
    assert.match(cmds[3], /index\.json .*rsync-site\/streams\/v1\/index\.json$/);
    assert.match(cmds[4], /--delete/);
    assert.match(cmds[5], /--delete .*rsync-site\/appliances\/$/);
    assert.not.ok(existsSync(join(dest, 'images', 'stale.squashfs')));
    assert.equal((await verifyRegistry(dest)).errors, []);
    assert.equal(readdirSync(dest).sort(), ['appliances', 'images', 'index.html', 'streams']);
    assert.equal(readdirSync(join(dest, 'appliances')).sort(), ['ghost.html', 'nginx.html']);
  } finally {
    s.cleanup();
  }
});

test('rsync destinations are told apart from local paths', () => {
  for (const d of ['user@host:/srv/images', 'host:/srv', 'web1:images']) assert.ok(isRsyncDestination(d), d);
  for (const d of ['/srv/images', './site', 'site', '/tmp/a:b']) assert.not.ok(isRsyncDestination(d), d);
});

test.run();
