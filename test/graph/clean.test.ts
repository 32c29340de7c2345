/**
 * `clean` and `clean-all`, and the hand-over to the registry stage (its internals are another
 * module's business: only the outcome visible in registry/ is checked).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { project, type Project } from './project.ts';

let p: Project;

test.before(() => {
  p = project();
});
test.after(() => p.cleanup());

test('a build hands its images to the registry; a deleted appliance leaves it', async () => {
  const r = await p.run(['nginx:amd64', 'hello:amd64']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /registry: 2 version\(s\) added/);
  const images = p.read('registry/streams/v1/images.json');
  assert.match(images, /nginx/);
  assert.match(images, /hello/);
  assert.ok(JSON.parse(p.read('.cache/records/nginx-amd64.json')).indexed, 'the record says the image is indexed');
  // A no-op build does not touch the registry.
  const again = await p.run(['nginx:amd64', 'hello:amd64']);
  assert.not.match(again.stdout, /registry:/);
  execFileSync('rm', ['-rf', join(p.dir, 'appliances/hello')]);
  const gone = await p.run(['nginx:amd64']);
  assert.is(gone.code, 0, gone.all);
  assert.match(gone.stdout, /hello:amd64: no longer exists/);
  assert.match(gone.stdout, /registry: dropped hello:amd64/);
  assert.not.match(p.read('registry/streams/v1/images.json'), /"hello/);
});

test('a record not yet indexed (run killed before the registry stage) is indexed next time', async () => {
  p.nodes(); // forget the builds of the previous test: only this run's count below
  const rec = JSON.parse(p.read('.cache/records/nginx-amd64.json'));
  p.write('.cache/records/nginx-amd64.json', JSON.stringify({ ...rec, indexed: false }));
  const r = await p.run(['nginx:amd64']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /nginx:amd64: fresh/);
  assert.match(r.stdout, /registry: 0 version\(s\) added, 1 unchanged/);
  assert.ok(JSON.parse(p.read('.cache/records/nginx-amd64.json')).indexed);
  assert.equal(p.nodes(), [], 'indexing a fresh record builds nothing');
});

test('a record marked indexed whose image is gone from registry/ (deleted by hand) is indexed again', async () => {
  p.nodes();
  execFileSync('rm', ['-rf', join(p.dir, 'registry')]);
  const r = await p.run(['nginx:amd64']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /nginx:amd64: fresh/);
  assert.match(r.stdout, /registry: 1 version\(s\) added/);
  assert.match(p.read('registry/streams/v1/images.json'), /nginx/);
  assert.equal(p.nodes(), [], 'indexing a fresh record builds nothing');
  const again = await p.run(['nginx:amd64']);
  assert.not.match(again.stdout, /registry:/, 'once the image is back, a run leaves the registry alone');
});

test('a dead target takes its packages layer; clean --unused removes the base no target uses any more', async () => {
  const b = await p.run(['tiny:amd64', '--no-index']);
  assert.is(b.code, 0, b.all);
  const tinyLayer = JSON.parse(p.read('.cache/records/nodes/tiny-amd64.packages.json')).tree;
  const alpine = JSON.parse(p.read('.cache/records/nodes/base-alpine-3.23-amd64.json')).tree;
  execFileSync('rm', ['-rf', join(p.dir, 'appliances/tiny')]);
  const d = await p.run(['nginx:amd64', '--no-index']);
  assert.is(d.code, 0, d.all);
  assert.match(d.stdout, new RegExp(`tiny:amd64: no longer exists .*\\.cache/trees/${tinyLayer}`));
  assert.not.ok(p.exists(`.cache/trees/${tinyLayer}`));
  assert.ok(p.exists(`.cache/trees/${alpine}`), 'a base may serve other appliances: the build keeps it');
  const nginxBase = JSON.parse(p.read('.cache/records/nodes/base-debian-trixie-amd64.json')).tree;
  const dry = await p.run(['clean', '--unused', '--dry-run']);
  assert.is(dry.code, 0, dry.all);
  assert.match(dry.stdout, new RegExp(`would remove \\.cache/trees/${alpine} \\(`));
  assert.match(dry.stdout, /would remove \.cache\/records\/nodes\/base-alpine-3\.23-amd64\.json/);
  assert.not.match(dry.stdout, new RegExp(nginxBase));
  assert.match(dry.stdout, /\.cache\/ holds [\d.]+ \w*B: /);
  assert.ok(p.exists(`.cache/trees/${alpine}`), 'a dry run removes nothing');
  const r = await p.run(['clean', '--unused']);
  assert.is(r.code, 0, r.all);
  assert.not.ok(p.exists(`.cache/trees/${alpine}`));
  assert.ok(p.exists(`.cache/trees/${nginxBase}`));
  const doctor = await p.run(['doctor']);
  assert.match(doctor.stdout, /Disk: \.cache\/ holds /);
  const after = await p.run(['--dry-run', 'nginx:amd64']);
  assert.match(after.stdout, /nginx:amd64: fresh/);
});

test('clean of one target takes its packages layer, never the shared base', async () => {
  p.nodes();
  const layer = JSON.parse(p.read('.cache/records/nodes/nginx-amd64.packages.json')).tree;
  const base = JSON.parse(p.read('.cache/records/nodes/base-debian-trixie-amd64.json')).tree;
  const r = await p.run(['clean', 'nginx:amd64']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, new RegExp(`removed \\.cache/trees/${layer} `));
  assert.ok(p.exists(`.cache/trees/${base}`));
  const b = await p.run(['nginx:amd64', '--no-index']);
  assert.is(b.code, 0, b.all);
  assert.equal(p.nodes(), ['nginx:amd64', 'nginx:amd64/packages']);
});

test('clean removes outputs, trees, records, logs; keeps downloads and the registry; says what it removed', async () => {
  p.write('.cache/sources/debootstrap.tar', 'x');
  const r = await p.run(['clean']);
  assert.is(r.code, 0, r.all);
  for (const d of ['.cache/out', '.cache/records', '.cache/logs', '.cache/trees']) assert.match(r.stdout, new RegExp(`removed ${d.replace(/\./g, '\\.')} \\(`));
  assert.match(r.stdout, /clean: removed \d+ path\(s\)/);
  assert.not.ok(p.exists('.cache/out'));
  assert.ok(p.exists('.cache/sources/debootstrap.tar'));
  assert.ok(p.exists('registry/streams/v1/images.json'));
  const again = await p.run(['clean']);
  assert.match(again.stdout, /clean: nothing to remove/);
  // Everything is stale again.
  const d = await p.run(['--dry-run', 'nginx:amd64']);
  assert.match(d.stdout, /nginx:amd64: stale \(new target\)/);
});

test('clean of one target', async () => {
  const b = await p.run(['nginx:amd64', 'nginx:arm64', '--no-index']);
  assert.is(b.code, 0, b.all);
  const r = await p.run(['clean', 'nginx:amd64']);
  assert.match(r.stdout, /removed \.cache\/out\/nginx-amd64 /);
  assert.not.ok(p.exists('.cache/out/nginx-amd64'));
  assert.ok(p.exists('.cache/out/nginx-arm64'));
});

test('clean-all removes .cache/ and the registry, and says so', async () => {
  const r = await p.run(['clean-all']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /removed \.cache\/sources /);
  assert.match(r.stdout, /removed registry /);
  assert.not.ok(p.exists('.cache'));
  assert.not.ok(p.exists('registry'));
  const again = await p.run(['clean-all']);
  assert.match(again.stdout, /clean-all: nothing to remove/);
});

test.run();
