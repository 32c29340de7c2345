/**
 * The layered build graph end to end (fake distrobuilder, scratch project with nginx and hello
 * on Debian, tiny on Alpine): which nodes (base, packages layer, image) rebuild after each kind
 * of edit, and the reasons `--dry-run --json` gives. The steps build on each other, in order:
 * together they are the invalidation table of docs/build.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FAKE, parseReport, project, summary, tmpLeft, type JsonReport, type Project } from './project.ts';

let p: Project;
const ALL = ['hello:amd64', 'hello:arm64', 'nginx:amd64', 'nginx:arm64', 'tiny:amd64', 'tiny:arm64'];
const BASES = ['base/alpine-3.23:amd64', 'base/alpine-3.23:arm64', 'base/debian-trixie:amd64', 'base/debian-trixie:arm64'];
const fresh = (targets: string[]) => Object.fromEntries(targets.map((t) => [t, 'fresh']));
const FRESH = fresh([...ALL, ...BASES]);
const host = process.arch === 'arm64' ? 'arm64' : 'amd64';

async function report(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<JsonReport> {
  const r = await p.run(['--dry-run', '--json', '--all-arch', ...args], env);
  assert.is(r.code, 0, r.all);
  return parseReport(r);
}
const dry = async (args: string[] = [], env: NodeJS.ProcessEnv = {}) => summary(await report(args, env));
/** target -> the layers of its own that would run. */
const layers = (rep: JsonReport) => Object.fromEntries(rep.targets.filter((t) => (t as { layers?: string[] }).layers).map((t) => [t.target, (t as { layers?: string[] }).layers]));

async function build(args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const r = await p.run(['--all-arch', '--no-index', ...args], env);
  assert.is(r.code, 0, r.all);
  return r;
}

/** What the image of a target holds in /etc/layers: one line per tree layer it was packed on. */
function imageLayers(target: string): string[] {
  const sq = join(p.dir, '.cache/out', target.replace(':', '-'), 'rootfs.squashfs');
  return execFileSync('unsquashfs', ['-cat', sq, 'etc/layers'], { encoding: 'utf8' }).trim().split('\n');
}

test.before(() => {
  p = project();
});
test.after(() => p.cleanup());

test('a new project: every target and base is stale; the dry run builds nothing', async () => {
  const rep = await report();
  assert.equal(summary(rep), { ...Object.fromEntries(ALL.map((t) => [t, 'stale: new target'])), ...Object.fromEntries(BASES.map((b) => [b, 'stale: new base'])) });
  assert.equal(layers(rep), Object.fromEntries(ALL.map((t) => [t, ['packages', 'image']])));
  assert.equal(rep.targets.slice(0, 4).map((t) => t.target), BASES, 'base nodes come first');
  assert.equal(p.nodes(), []);
  assert.not.ok(p.exists('.cache/out'));
});

test('the first build: one base per base x arch, shared; a packages layer and an image per target', async () => {
  const r = await build(['-j', '2']);
  assert.equal(p.nodes(), [...BASES, ...ALL, ...ALL.map((t) => `${t}/packages`)].sort());
  assert.match(r.stdout, /built 6, fresh 0, failed 0/);
  for (const t of ALL) {
    const d = `.cache/out/${t.replace(':', '-')}`;
    assert.equal(readdirSync(join(p.dir, d)).sort(), ['build.json', 'incus.tar.xz', 'provenance.intoto.jsonl', 'rootfs.squashfs', 'sbom.cdx.json'], t);
    assert.ok(p.exists(`.cache/records/${t.replace(':', '-')}.json`), t);
    assert.ok(p.exists(`.cache/logs/${t.replace(':', '-')}.log`), t);
    assert.ok(p.exists(`.cache/logs/${t.replace(':', '-')}.packages.log`), t);
  }
  assert.ok(p.exists('.cache/logs/base-debian-trixie-amd64.log'));
  // The image holds the base tree and the packages layer on it.
  assert.equal(imageLayers('nginx:arm64'), ['base-debian-trixie-arm64', 'nginx-1.26-debian-trixie-arm64']);
  const meta = execFileSync('tar', ['-xJOf', join(p.dir, '.cache/out/nginx-arm64/incus.tar.xz'), 'metadata.yaml'], { encoding: 'utf8' });
  assert.match(meta, /^architecture: arm64$/m);
  assert.equal(tmpLeft(p), []);
});

test('the second build is a no-op that imports no appliance', async () => {
  const r = await build([], { APPLIANCE_BUILD_DEBUG: '1' });
  assert.equal(p.nodes(), []);
  assert.match(r.stdout, /built 0, fresh 6, failed 0/);
  assert.not.match(r.stderr, /debug: import/, r.stderr);
  assert.not.match(r.stderr, /slow path/, r.stderr);
  assert.equal(await dry(), FRESH);
});

test('`build` is the default verb; a name alone means the host architecture', async () => {
  const r = await p.run(['build', 'nginx', '--dry-run', '--json']);
  assert.is(r.code, 0, r.all);
  assert.equal(summary(parseReport(r)), { [`nginx:${host}`]: 'fresh', [`base/debian-trixie:${host}`]: 'fresh' });
  const r2 = await p.run(['nginx:aarch64', '--dry-run', '--json']);
  assert.equal(summary(parseReport(r2)), { 'nginx:arm64': 'fresh', 'base/debian-trixie:arm64': 'fresh' });
  const bad = await p.run(['nosuch:amd64', '--dry-run']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /unknown appliance "nosuch"/);
});

test('a shipped file edit repacks only the image: no base, no packages layer', async () => {
  p.edit('appliances/nginx/files/nginx.conf', (t) => t + '# tuned\n');
  const rep = await report();
  assert.equal(summary(rep), { ...FRESH, 'nginx:amd64': 'stale: files/nginx.conf changed', 'nginx:arm64': 'stale: files/nginx.conf changed' });
  assert.equal(layers(rep), { 'nginx:amd64': ['image'], 'nginx:arm64': ['image'] });
  const r = await build();
  assert.match(r.stdout, /nginx:amd64: stale \(files\/nginx.conf changed\): rebuilds image/);
  assert.equal(p.nodes(), ['nginx:amd64', 'nginx:arm64']);
  assert.equal(imageLayers('nginx:amd64'), ['base-debian-trixie-amd64', 'nginx-1.26-debian-trixie-amd64']);
  await build();
  assert.equal(p.nodes(), []);
});

test('a comment in appliance.ts and a README edit rebuild nothing', async () => {
  p.edit('appliances/nginx/appliance.ts', (t) => t.replace("version: '1.26',", "version: '1.26', // the packaged nginx\n  // a comment line"));
  p.write('appliances/nginx/README.md', '# nginx\nSome notes.\n');
  assert.equal(await dry(), FRESH);
  await build();
  assert.equal(p.nodes(), []);
  // The record was refreshed: the next run does not even import nginx.
  const r = await build([], { APPLIANCE_BUILD_DEBUG: '1' });
  assert.not.match(r.stderr, /debug: import nginx/, r.stderr);
});

test('a health check edit repacks the image only: the in-image `appliance health` runs it', async () => {
  p.edit('appliances/nginx/appliance.ts', (t) => t.replace("health: { command: 'true' }", "health: { command: 'test -e /etc/nginx/nginx.conf' }"));
  const rep = await report();
  assert.equal(summary(rep), { ...FRESH, 'nginx:amd64': 'stale: appliance.ts: health changed', 'nginx:arm64': 'stale: appliance.ts: health changed' });
  assert.equal(layers(rep), { 'nginx:amd64': ['image'], 'nginx:arm64': ['image'] });
  await build();
  assert.equal(p.nodes(), ['nginx:amd64', 'nginx:arm64']);
});

test('settings and a configure script: image only', async () => {
  p.write('appliances/hello/files/configure.sh', '#!/bin/sh\necho "greeting=$GREETING" > /etc/hello.conf\n');
  p.edit('appliances/hello/appliance.ts', (t) => t.replace("health: {", "settings: { greeting: { description: 'Greeting', default: 'hi', example: 'hello' } },\n  configure: 'configure.sh',\n  health: {"));
  const rep = await report();
  assert.equal(summary(rep)['hello:amd64'], 'stale: files/configure.sh added; appliance.ts: configure changed; appliance.ts: settings changed');
  assert.equal(layers(rep), { 'hello:amd64': ['image'], 'hello:arm64': ['image'] });
  await build();
  assert.equal(p.nodes(), ['hello:amd64', 'hello:arm64']);
  p.edit('appliances/hello/files/configure.sh', (t) => t + 'echo done\n');
  assert.equal((await dry())['hello:amd64'], 'stale: files/configure.sh changed');
  await build();
  assert.equal(p.nodes(), ['hello:amd64', 'hello:arm64']);
});

test('a package list change rebuilds the packages layer and the image, not the base', async () => {
  p.edit('appliances/nginx/appliance.ts', (t) => t.replace("packages: ['nginx-light']", "packages: ['nginx-light', 'curl']"));
  const rep = await report();
  assert.equal(summary(rep), { ...FRESH, 'nginx:amd64': 'stale: appliance.ts: packages changed', 'nginx:arm64': 'stale: appliance.ts: packages changed' });
  assert.equal(layers(rep), { 'nginx:amd64': ['packages', 'image'], 'nginx:arm64': ['packages', 'image'] });
  await build();
  assert.equal(p.nodes(), ['nginx:amd64', 'nginx:amd64/packages', 'nginx:arm64', 'nginx:arm64/packages']);
});

test('a base change rebuilds each Debian base once, then every layer on it; Alpine untouched', async () => {
  p.edit('appliances/_base/debian.ts', (t) => t.replace('packages: [', "packages: ['less', "));
  const rep = await report();
  const why = (a: string) => `stale: base debian-trixie:${a} changed: packages`;
  assert.equal(summary(rep), {
    ...FRESH,
    'base/debian-trixie:amd64': 'stale: packages changed',
    'base/debian-trixie:arm64': 'stale: packages changed',
    'hello:amd64': why('amd64'), 'hello:arm64': why('arm64'), 'nginx:amd64': why('amd64'), 'nginx:arm64': why('arm64'),
  });
  await build(['-j', '2']);
  assert.equal(p.nodes(), ['base/debian-trixie:amd64', 'base/debian-trixie:arm64', 'hello:amd64', 'hello:amd64/packages', 'hello:arm64', 'hello:arm64/packages', 'nginx:amd64', 'nginx:amd64/packages', 'nginx:arm64', 'nginx:arm64/packages']);
  // A comment in the base changes no definition: nothing rebuilds.
  p.edit('appliances/_base/debian.ts', (t) => t.replace("'less', ", "'less' /* for the shell */, ") + '\n// A comment at the end.\n');
  assert.equal(await dry(), FRESH);
});

test('another base release is another base node, for the appliance that moves only', async () => {
  p.edit('appliances/hello/appliance.ts', (t) => t.replace('base: debian()', "base: debian({ release: 'bookworm' })"));
  const d = await dry();
  assert.equal(d['base/debian-bookworm:amd64'], 'stale: new base');
  assert.equal(d['hello:amd64'], 'stale: base debian-trixie:amd64 -> debian-bookworm:amd64');
  assert.equal(d['nginx:amd64'], 'fresh');
  await build();
  assert.equal(p.nodes(), ['base/debian-bookworm:amd64', 'base/debian-bookworm:arm64', 'hello:amd64', 'hello:amd64/packages', 'hello:arm64', 'hello:arm64/packages']);
  assert.equal(imageLayers('hello:amd64')[0], 'base-debian-bookworm-amd64');
});

test('toolchain, options and environment: each reaches exactly the nodes it changes', async () => {
  const v33 = join(p.dir, 'distrobuilder-3.3');
  p.write('distrobuilder-3.3', `#!/bin/sh\nFAKE_DB_VERSION=3.3 exec ${FAKE} "$@"\n`);
  execFileSync('chmod', ['+x', v33]);
  assert.equal(await dry(['nginx:amd64'], { DISTROBUILDER: v33 }), { 'nginx:amd64': 'stale: distrobuilder 3.2 -> 3.3', 'base/debian-trixie:amd64': 'stale: distrobuilder 3.2 -> 3.3' });
  const z = await report(['nginx:amd64', '--compression', 'zstd']);
  assert.equal(summary(z), { 'nginx:amd64': 'stale: option --compression changed (xz -> zstd)', 'base/debian-trixie:amd64': 'fresh' });
  assert.equal(layers(z), { 'nginx:amd64': ['image'] });
  assert.equal(await dry(['nginx:amd64'], { APPLIANCE_DEBIAN_MIRROR: 'http://other.example/debian' }), {
    'base/debian-trixie:amd64': 'stale: Debian mirror changed (http://mirror.example/debian -> http://other.example/debian)',
    'nginx:amd64': 'stale: base debian-trixie:amd64 changed: Debian mirror (http://mirror.example/debian -> http://other.example/debian)',
  });
  // The Alpine mirror does not reach a Debian image: fresh.
  assert.equal(await dry(['nginx:amd64'], { APPLIANCE_ALPINE_MIRROR: 'http://other.example/alpine' }), { 'nginx:amd64': 'fresh', 'base/debian-trixie:amd64': 'fresh' });
  assert.equal(p.nodes(), []);
});

test('--compression zstd repacks the image only, with an xz metadata tarball for the registry', async () => {
  await build(['nginx:amd64', '--compression', 'zstd']);
  assert.equal(p.nodes(), ['nginx:amd64']);
  assert.equal(readdirSync(join(p.dir, '.cache/out/nginx-amd64')).sort(), ['build.json', 'incus.tar.xz', 'provenance.intoto.jsonl', 'rootfs.squashfs', 'sbom.cdx.json']);
  const meta = execFileSync('tar', ['-xJOf', join(p.dir, '.cache/out/nginx-amd64/incus.tar.xz'), 'metadata.yaml'], { encoding: 'utf8' });
  assert.match(meta, /^architecture: amd64$/m);
  await build(['nginx:amd64']);
  assert.equal(p.nodes(), ['nginx:amd64']);
});

test('--force rebuilds the named targets\' own layers, not their base', async () => {
  assert.equal(await dry(['nginx:amd64', '--force']), { 'nginx:amd64': 'stale: forced', 'base/debian-trixie:amd64': 'fresh' });
  const r = await build(['nginx:amd64', '--force']);
  assert.match(r.stdout, /nginx:amd64: stale \(forced\)/);
  assert.equal(p.nodes(), ['nginx:amd64', 'nginx:amd64/packages']);
});

test('--max-age rebuilds old bases and everything on them; the other appliances on a rebuilt base follow', async () => {
  assert.equal(await dry(['--max-age', '7d']), { ...FRESH, ...fresh(['base/debian-bookworm:amd64', 'base/debian-bookworm:arm64']) });
  await new Promise((r) => setTimeout(r, 1100));
  const old = await dry(['tiny:amd64', '--max-age', '1s']);
  assert.match(old['base/alpine-3.23:amd64'], /^stale: older than --max-age 1s \(built [^)]+ ago\)$/);
  assert.match(old['tiny:amd64'], /^stale: base alpine-3.23:amd64 older than --max-age 1s \(built [^)]+ ago\)$/);
  await build(['nginx:amd64', '--max-age', '1s']);
  assert.equal(p.nodes(), ['base/debian-trixie:amd64', 'nginx:amd64', 'nginx:amd64/packages']);
  const after = await dry();
  assert.equal(after['nginx:amd64'], 'fresh');
  assert.match(after['hello:amd64'], /^fresh$/, 'hello is on bookworm now');
  const bad = await p.run(['--dry-run', '--max-age', 'soon']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /--max-age: expected a duration/);
});

test('a removed tree is restored when needed, without rebuilding the targets that used it', async () => {
  execFileSync('rm', ['-rf', join(p.dir, '.cache/trees')]);
  assert.equal((await dry())['nginx:amd64'], 'fresh', 'outputs are intact: nothing to do');
  p.edit('appliances/nginx/files/index.html', (t) => t + '<p>restored</p>\n');
  const d = await dry(['nginx:amd64']);
  assert.equal(d['base/debian-trixie:amd64'], 'stale: tree missing (removed by clean): restoring it');
  await build(['nginx:amd64']);
  assert.equal(p.nodes(), ['base/debian-trixie:amd64', 'nginx:amd64', 'nginx:amd64/packages']);
  assert.equal((await dry())['nginx:arm64'], 'stale: files/index.html changed', 'arm64 needs its own trees later');
  await build(['nginx:arm64']);
  assert.equal(p.nodes(), ['base/debian-trixie:arm64', 'nginx:arm64', 'nginx:arm64/packages']);
  assert.equal(await dry(), { ...FRESH, ...fresh(['base/debian-bookworm:amd64', 'base/debian-bookworm:arm64']) }, 'a restore changes no child');
});

test('an appliance without packages is packed straight on its base', async () => {
  p.edit('appliances/hello/appliance.ts', (t) => t.replace("packages: ['busybox'],", ''));
  const rep = await report(['hello:amd64']);
  assert.equal(layers(rep), { 'hello:amd64': ['image'] });
  await build(['hello:amd64']);
  // Its base tree was removed above: restored for it.
  assert.equal(p.nodes(), ['base/debian-bookworm:amd64', 'hello:amd64']);
  assert.equal(imageLayers('hello:amd64'), ['base-debian-bookworm-amd64']);
});

test('a missing output rebuilds just that image', async () => {
  p.write('.cache/out/tiny-amd64/rootfs.squashfs', '');
  assert.equal((await dry())['tiny:amd64'], 'stale: output rootfs.squashfs modified');
  execFileSync('rm', ['-rf', join(p.dir, '.cache/out/tiny-amd64')]);
  assert.equal((await dry())['tiny:amd64'], 'stale: output missing');
  await build(['tiny:amd64']);
  // Its trees were removed above: restored on the way (a restore rebuilds no other target).
  assert.equal(p.nodes(), ['base/alpine-3.23:amd64', 'tiny:amd64', 'tiny:amd64/packages']);
});

test('a corrupt or foreign record file: a warning and a rebuild, not a crash', async () => {
  p.write('.cache/records/nginx-arm64.json', '{"format": "garbage');
  p.write('.cache/records/tiny-arm64.json', JSON.stringify({ format: 'some-other-tool/7', target: 'tiny:arm64' }));
  const d = await p.run(['--dry-run', '--json', '--all-arch']);
  assert.is(d.code, 0, d.all);
  assert.match(d.stderr, /warning: \.cache\/records\/nginx-arm64\.json: not valid JSON/);
  assert.match(d.stderr, /warning: \.cache\/records\/tiny-arm64\.json: format "some-other-tool\/7"/);
  assert.equal(summary(parseReport(d))['nginx:arm64'], 'stale: record unreadable (corrupt or foreign): rebuilding from scratch');
  const r = await build();
  assert.match(r.stderr, /nginx-arm64\.json/);
  assert.equal(p.builds(), ['hello:arm64', 'nginx:arm64', 'tiny:arm64'], 'hello:arm64 was stale already');
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
  assert.equal(p.nodes(), []);
});

test('a deleted appliance: reported, outputs and records removed', async () => {
  execFileSync('rm', ['-rf', join(p.dir, 'appliances/hello')]);
  const r = await build();
  assert.match(r.stdout, /hello:amd64: no longer exists \(appliance hello deleted\)/);
  assert.match(r.stdout, /hello:arm64: no longer exists \(appliance hello deleted\)/);
  for (const f of ['.cache/out/hello-amd64', '.cache/out/hello-arm64', '.cache/records/hello-amd64.json', '.cache/logs/hello-arm64.log']) assert.not.ok(p.exists(f), f);
  assert.equal(p.nodes(), []);
  const d = parseReport(await p.run(['--dry-run', '--json', '--all-arch']));
  assert.equal(d.dead, []);
  assert.equal(summary(d), fresh(['nginx:amd64', 'nginx:arm64', 'tiny:amd64', 'base/debian-trixie:amd64', 'base/debian-trixie:arm64', 'base/alpine-3.23:amd64']));
});

test.run();
