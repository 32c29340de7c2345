/**
 * The incremental build graph end to end (fake distrobuilder, scratch project with nginx and
 * hello on Debian, tiny on Alpine): what rebuilds after each kind of edit, and the reasons
 * `--dry-run --json` gives. The steps build on each other, in order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FAKE, parseReport, project, summary, tmpLeft, type Project } from './project.ts';

let p: Project;
const ALL = ['hello:amd64', 'hello:arm64', 'nginx:amd64', 'nginx:arm64', 'tiny:amd64', 'tiny:arm64'];
const fresh = (targets: string[]) => Object.fromEntries(targets.map((t) => [t, 'fresh']));

async function dry(args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await p.run(['--dry-run', '--json', '--all-arch', ...args], env);
  assert.is(r.code, 0, r.all);
  return summary(parseReport(r));
}

async function build(args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await p.run(['--all-arch', '--no-index', ...args], env);
  assert.is(r.code, 0, r.all);
  return r;
}

test.before(() => {
  p = project();
});
test.after(() => p.cleanup());

test('a new project: every target is stale as a "new target"; the dry run builds nothing', async () => {
  assert.equal(await dry(), Object.fromEntries(ALL.map((t) => [t, 'stale: new target'])));
  assert.equal(p.builds(), []);
  assert.not.ok(p.exists('.cache/out'));
});

test('the first build builds every target, with real outputs', async () => {
  const r = await build();
  assert.equal(p.builds(), ALL);
  assert.match(r.stdout, /built 6, fresh 0, failed 0/);
  for (const t of ALL) {
    const d = `.cache/out/${t.replace(':', '-')}`;
    assert.equal(readdirSync(join(p.dir, d)).sort(), ['build.json', 'incus.tar.xz', 'rootfs.squashfs'], t);
    assert.ok(p.exists(`.cache/records/${t.replace(':', '-')}.json`), t);
    assert.ok(p.exists(`.cache/logs/${t.replace(':', '-')}.log`), t);
  }
  const meta = execFileSync('tar', ['-xJOf', join(p.dir, '.cache/out/nginx-arm64/incus.tar.xz'), 'metadata.yaml'], { encoding: 'utf8' });
  assert.match(meta, /^architecture: arm64$/m);
  assert.match(meta, /creation_date: \d+/);
  assert.equal(tmpLeft(p), []);
});

test('the second build is a no-op that imports no appliance', async () => {
  const r = await build([], { APPLIANCE_BUILD_DEBUG: '1' });
  assert.equal(p.builds(), []);
  assert.match(r.stdout, /built 0, fresh 6, failed 0/);
  assert.not.match(r.stderr, /debug: import/, r.stderr);
  assert.not.match(r.stderr, /slow path/, r.stderr);
  assert.equal(await dry(), fresh(ALL));
});

test('`build` is the default verb; a name alone means the host architecture', async () => {
  const host = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const r = await p.run(['build', 'nginx', '--dry-run', '--json']);
  assert.is(r.code, 0, r.all);
  assert.equal(summary(parseReport(r)), { [`nginx:${host}`]: 'fresh' });
  const r2 = await p.run(['nginx:aarch64', '--dry-run', '--json']);
  assert.equal(summary(parseReport(r2)), { 'nginx:arm64': 'fresh' });
  const bad = await p.run(['nosuch:amd64', '--dry-run']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /unknown appliance "nosuch"/);
});

test('editing files/ of nginx rebuilds only nginx\'s targets', async () => {
  p.edit('appliances/nginx/files/nginx.conf', (t) => t + '# tuned\n');
  assert.equal(await dry(), {
    ...fresh(ALL),
    'nginx:amd64': 'stale: files/nginx.conf changed',
    'nginx:arm64': 'stale: files/nginx.conf changed',
  });
  const r = await build();
  assert.match(r.stdout, /nginx:amd64: stale \(files\/nginx.conf changed\)/);
  assert.equal(p.builds(), ['nginx:amd64', 'nginx:arm64']);
  await build();
  assert.equal(p.builds(), []);
});

test('a comment in appliance.ts and a README edit rebuild nothing', async () => {
  p.edit('appliances/nginx/appliance.ts', (t) => t.replace("version: '1.26',", "version: '1.26', // the packaged nginx\n  // a comment line"));
  p.write('appliances/nginx/README.md', '# nginx\nSome notes.\n');
  p.write('appliances/hello/README.md', '# hello\n');
  assert.equal(await dry(), fresh(ALL));
  await build();
  assert.equal(p.builds(), []);
  // The record was refreshed: the next run does not even import nginx.
  const r = await build([], { APPLIANCE_BUILD_DEBUG: '1' });
  assert.not.match(r.stderr, /debug: import nginx/, r.stderr);
});

test('a model change names the field: "appliance.ts: packages changed"', async () => {
  p.edit('appliances/nginx/appliance.ts', (t) => t.replace("packages: ['nginx-light']", "packages: ['nginx-light', 'curl']"));
  assert.equal(await dry(), {
    ...fresh(ALL),
    'nginx:amd64': 'stale: appliance.ts: packages changed',
    'nginx:arm64': 'stale: appliance.ts: packages changed',
  });
  await build();
  assert.equal(p.builds(), ['nginx:amd64', 'nginx:arm64']);
});

test('editing _base/debian.ts rebuilds every Debian-based target and no Alpine one', async () => {
  p.edit('appliances/_base/debian.ts', (t) => t.replace('packages: [', "packages: ['less', "));
  assert.equal(await dry(), {
    ...fresh(ALL),
    'hello:amd64': 'stale: _base/debian.ts changed',
    'hello:arm64': 'stale: _base/debian.ts changed',
    'nginx:amd64': 'stale: _base/debian.ts changed',
    'nginx:arm64': 'stale: _base/debian.ts changed',
  });
  await build();
  assert.equal(p.builds(), ['hello:amd64', 'hello:arm64', 'nginx:amd64', 'nginx:arm64']);
  // A comment in the base changes no YAML: nothing rebuilds.
  p.edit('appliances/_base/debian.ts', (t) => t.replace("'less', ", "'less' /* for the shell */, ") + '\n// A comment at the end.\n');
  assert.equal(await dry(), fresh(ALL));
});

test('toolchain, options and environment are in the key', async () => {
  // A new distrobuilder version (another executable, as an upgrade replaces the file).
  const v33 = join(p.dir, 'distrobuilder-3.3');
  p.write('distrobuilder-3.3', `#!/bin/sh\nFAKE_DB_VERSION=3.3 exec ${FAKE} "$@"\n`);
  execFileSync('chmod', ['+x', v33]);
  const db = await dry(['nginx:amd64'], { DISTROBUILDER: v33 });
  assert.equal(db, { 'nginx:amd64': 'stale: distrobuilder 3.2 -> 3.3' });
  assert.equal(await dry(['nginx:amd64', '--compression', 'zstd']), { 'nginx:amd64': 'stale: option --compression changed (xz -> zstd)' });
  assert.equal(await dry(['nginx:amd64'], { APPLIANCE_DEBIAN_MIRROR: 'http://other.example/debian' }), {
    'nginx:amd64': 'stale: Debian mirror changed (http://mirror.example/debian -> http://other.example/debian)',
  });
  // The Alpine mirror does not reach a Debian image: fresh.
  assert.equal(await dry(['nginx:amd64'], { APPLIANCE_ALPINE_MIRROR: 'http://other.example/alpine' }), { 'nginx:amd64': 'fresh' });
  assert.equal(p.builds(), []);
});

test('--force rebuilds the named targets, and says so', async () => {
  assert.equal(await dry(['nginx:amd64', '--force']), { 'nginx:amd64': 'stale: forced' });
  const r = await build(['nginx:amd64', '--force']);
  assert.match(r.stdout, /nginx:amd64: stale \(forced\)/);
  assert.equal(p.builds(), ['nginx:amd64']);
});

test('--max-age rebuilds what was built longer ago', async () => {
  assert.equal(await dry(['--max-age', '7d']), fresh(ALL));
  await new Promise((r) => setTimeout(r, 1100));
  const old = await dry(['tiny:amd64', '--max-age', '1s']);
  assert.match(old['tiny:amd64'], /^stale: older than --max-age 1s \(built [\d.]+ s ago\)$/);
  const bad = await p.run(['--dry-run', '--max-age', 'soon']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /--max-age: expected a duration/);
});

test('a missing output rebuilds just that target', async () => {
  p.write('.cache/out/hello-amd64/rootfs.squashfs', '');
  assert.equal((await dry())['hello:amd64'], 'stale: output rootfs.squashfs modified');
  execFileSync('rm', ['-rf', join(p.dir, '.cache/out/hello-amd64')]);
  assert.equal(await dry(), { ...fresh(ALL), 'hello:amd64': 'stale: output missing' });
  await build();
  assert.equal(p.builds(), ['hello:amd64']);
});

test('a corrupt or foreign record file: a warning and a rebuild, not a crash', async () => {
  p.write('.cache/records/hello-arm64.json', '{"format": "garbage');
  p.write('.cache/records/tiny-arm64.json', JSON.stringify({ format: 'some-other-tool/7', target: 'tiny:arm64' }));
  const d = await p.run(['--dry-run', '--json', '--all-arch']);
  assert.is(d.code, 0, d.all);
  assert.match(d.stderr, /warning: \.cache\/records\/hello-arm64\.json: not valid JSON/);
  assert.match(d.stderr, /warning: \.cache\/records\/tiny-arm64\.json: format "some-other-tool\/7"/);
  assert.equal(summary(parseReport(d))['hello:arm64'], 'stale: record unreadable (corrupt or foreign): rebuilding from scratch');
  const r = await build();
  assert.match(r.stderr, /hello-arm64\.json/);
  assert.equal(p.builds(), ['hello:arm64', 'tiny:arm64']);
  assert.equal(await dry(), fresh(ALL));
});

test('an architecture dropped: reported, outputs removed', async () => {
  p.edit('appliances/tiny/appliance.ts', (t) => t.replace("architectures: ['amd64', 'arm64']", "architectures: ['amd64']"));
  const d = parseReport(await p.run(['--dry-run', '--json', '--all-arch']));
  assert.equal(d.dead, [{ target: 'tiny:arm64', reason: 'architecture arm64 dropped by tiny' }]);
  assert.ok(p.exists('.cache/out/tiny-arm64'), 'a dry run removes nothing');
  const r = await build();
  assert.match(r.stdout, /tiny:arm64: no longer exists \(architecture arm64 dropped by tiny\); removed \.cache\/out\/tiny-arm64/);
  assert.not.ok(p.exists('.cache/out/tiny-arm64'));
  assert.not.ok(p.exists('.cache/records/tiny-arm64.json'));
  assert.equal(p.builds(), []);
});

test('a deleted appliance: reported, outputs and records removed', async () => {
  execFileSync('rm', ['-rf', join(p.dir, 'appliances/hello')]);
  const r = await build();
  assert.match(r.stdout, /hello:amd64: no longer exists \(appliance hello deleted\)/);
  assert.match(r.stdout, /hello:arm64: no longer exists \(appliance hello deleted\)/);
  for (const f of ['.cache/out/hello-amd64', '.cache/out/hello-arm64', '.cache/records/hello-amd64.json', '.cache/logs/hello-arm64.log']) assert.not.ok(p.exists(f), f);
  assert.equal(p.builds(), []);
  const d = parseReport(await p.run(['--dry-run', '--json', '--all-arch']));
  assert.equal(d.dead, []);
  assert.equal(summary(d), fresh(['nginx:amd64', 'nginx:arm64', 'tiny:amd64']));
});

test.run();
