/**
 * The catalogue written by the registry's re-index: which pages exist, in which order they are
 * written, what they may link to, escaping, the record of declarations, the extension point for
 * SBOM/provenance/audit links, page weight. No browser here: see browser.test.ts.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { IndexEvent } from '../../lib/registry/api.ts';
import { addImages, dropTargets } from '../../lib/registry/index.ts';
import { emptyImages, type ImagesJson } from '../../lib/registry/format.ts';
import { catalogueView } from '../../lib/catalogue/view.ts';
import { appliancePage } from '../../lib/catalogue/appliance-page.ts';
import { siteOf } from '../../lib/catalogue/write.ts';
import { bareInfo } from '../../lib/catalogue/info.ts';
import { renderReadme } from '../../lib/catalogue/markdown.ts';
import { fakeImage, scratch } from '../registry/fake-images.ts';
import { hrefs, writeAppliance } from './helpers.ts';

const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);
const MIN = 60_000;

const read = (reg: string, f: string) => readFileSync(join(reg, f), 'utf8');

/** Every relative link of every page names an existing file; returns how many were checked. */
function assertLinksResolve(reg: string): number {
  let n = 0;
  const pages = ['index.html', ...readdirSync(join(reg, 'appliances')).map((p) => `appliances/${p}`)];
  for (const page of pages) {
    for (const href of hrefs(read(reg, page))) {
      if (href.startsWith('#') || /^https?:/.test(href)) continue;
      const target = normalize(join(dirname(page), href.split('#')[0]));
      assert.ok(existsSync(join(reg, target)), `${page} links to ${href}, which is missing`);
      n++;
    }
  }
  return n;
}

test('re-index writes the record, the appliance pages, then index.html, all before images.json and index.json', async () => {
  const s = scratch('catalogue-test-');
  try {
    const reg = join(s.dir, 'registry');
    const events: IndexEvent[] = [];
    await addImages(reg, [await fakeImage(s.dir, { name: 'nginx' }), await fakeImage(s.dir, { name: 'nginx', arch: 'arm64' }), await fakeImage(s.dir, { name: 'ghost', version: '0.1' })], { onEvent: (e) => events.push(e) });
    const writes = events.filter((e) => e.type === 'write').map((e) => (e as { file: string }).file);
    assert.equal(writes, ['.catalogue.json', 'appliances/ghost.html', 'appliances/nginx.html', 'index.html', 'streams/v1/images.json', 'streams/v1/index.json']);
    assert.ok(assertLinksResolve(reg) >= 6, 'links checked');
    // Same index again: no page is rewritten (no needless mtime or ETag change).
    const again: IndexEvent[] = [];
    await addImages(reg, [await fakeImage(s.dir, { name: 'ghost', version: '0.1', builtAt: new Date(T0) })], { onEvent: (e) => again.push(e) });
    assert.ok(again.some((e) => e.type === 'add'));
    const rewritten = again.filter((e) => e.type === 'write').map((e) => (e as { file: string }).file);
    assert.ok(rewritten.includes('appliances/ghost.html'), 'the page of the appliance that changed');
    assert.not.ok(rewritten.includes('appliances/nginx.html'), 'not the others');
  } finally {
    s.cleanup();
  }
});

test('only appliances the index holds have pages; a dropped one leaves index.html first, its page after the index files', async () => {
  const s = scratch('catalogue-test-');
  try {
    const reg = join(s.dir, 'registry');
    await addImages(reg, [await fakeImage(s.dir, { name: 'nginx' }), await fakeImage(s.dir, { name: 'ghost', version: '0.1' })]);
    assert.equal(readdirSync(join(reg, 'appliances')).sort(), ['ghost.html', 'nginx.html']);
    assert.ok(hrefs(read(reg, 'index.html')).includes('appliances/ghost.html'));
    const events: IndexEvent[] = [];
    await dropTargets(reg, (name) => name !== 'ghost', { onEvent: (e) => events.push(e) });
    const order = events.filter((e) => e.type === 'write' || e.type === 'delete').map((e) => `${e.type} ${(e as { file: string }).file}`);
    assert.equal(order.slice(-3), ['write streams/v1/images.json', 'write streams/v1/index.json', 'delete appliances/ghost.html']);
    assert.ok(order.indexOf('write index.html') < order.indexOf('write streams/v1/images.json'));
    assert.equal(readdirSync(join(reg, 'appliances')), ['nginx.html']);
    assert.not.ok(read(reg, 'index.html').includes('ghost'), 'index.html no longer mentions it');
    assert.not.ok(JSON.parse(read(reg, '.catalogue.json')).appliances.ghost, 'nor the record');
    assertLinksResolve(reg);
  } finally {
    s.cleanup();
  }
});

test('pages link only to files the index references, and every version and fingerprint is shown', async () => {
  const s = scratch('catalogue-test-');
  try {
    const reg = join(s.dir, 'registry');
    const imgs = [];
    for (let i = 0; i < 4; i++) imgs.push(await fakeImage(s.dir, { name: 'nginx', builtAt: new Date(T0 + i * MIN) }));
    await addImages(reg, imgs, { keep: 2, graceMs: 0 });
    const images = JSON.parse(read(reg, 'streams/v1/images.json')) as ImagesJson;
    const referenced = new Set(Object.values(images.products).flatMap((p) => Object.values(p.versions).flatMap((v) => Object.values(v.items).map((i) => i.path))));
    const page = read(reg, 'appliances/nginx.html');
    const files = hrefs(page).filter((h) => h.startsWith('../images/')).map((h) => h.slice(3));
    assert.equal(new Set(files), referenced, 'links = the referenced files, no dropped version');
    for (const v of Object.values(images.products['nginx:amd64:default'].versions)) {
      assert.ok(page.includes(v.items['incus.tar.xz'].combined_squashfs_sha256!), 'full fingerprint shown');
    }
    assert.is(Object.keys(images.products['nginx:amd64:default'].versions).length, 2);
  } finally {
    s.cleanup();
  }
});

test('the page describes the declaration that was built: recorded at add time, kept until the next build', async () => {
  const s = scratch('catalogue-test-');
  try {
    const apps = join(s.dir, 'appliances');
    const reg = join(s.dir, 'registry');
    writeAppliance(apps, 'hello', '1.0', `description: 'Hello service', configure: 'configure.sh',
  settings: { greeting: { description: 'what it says', default: 'hi', example: 'hey there' } },
  ports: [{ port: 8080, description: 'HTTP' }], volumes: [{ path: '/srv/hello', description: 'greetings' }],`, '# hello\n\nSays **hello**.\n');
    await addImages(reg, [await fakeImage(s.dir, { name: 'hello', version: '1.0' })], { catalogue: { appliancesDir: apps } });
    let page = read(reg, 'appliances/hello.html');
    assert.match(page, /user\.hello\.greeting/);
    assert.match(page, /-c user\.hello\.greeting=&#39;hey there&#39;/, 'launch command with the example, shell-quoted');
    assert.match(page, /<strong>hello<\/strong>/, 'README rendered');
    assert.match(page, /incus profile create hello/);
    assert.match(page, /hello-hello/, 'volume suggestion');
    // The declaration changes (a new setting, not built yet): a re-index keeps describing the
    // build. (Another folder: a process imports a module once, as the build's loader does.)
    const apps2 = join(s.dir, 'appliances2');
    writeAppliance(apps2, 'hello', '1.0', `description: 'Hello service', configure: 'configure.sh', settings: { other: { description: 'new' } },`);
    await addImages(reg, [await fakeImage(s.dir, { name: 'ghost', version: '0.1' })], { catalogue: { appliancesDir: apps2 } });
    page = read(reg, 'appliances/hello.html');
    assert.match(page, /user\.hello\.greeting/);
    assert.not.match(page, /user\.hello\.other/);
    // A new build of it records the new declaration.
    await addImages(reg, [await fakeImage(s.dir, { name: 'hello', version: '1.0', builtAt: new Date(T0 + MIN) })], { catalogue: { appliancesDir: apps2 } });
    page = read(reg, 'appliances/hello.html');
    assert.match(page, /user\.hello\.other/);
    assert.not.match(page, /user\.hello\.greeting/);
    // Without a declaration (ghost): the index's facts, and a note saying so.
    assert.match(read(reg, 'appliances/ghost.html'), /declaration of this build was not available/);
  } finally {
    s.cleanup();
  }
});

test('text from declarations and READMEs is escaped; README links that cannot resolve become text', () => {
  const images: ImagesJson = emptyImages();
  const evil = '<img src=x onerror=alert(1)>"\'&';
  const info = { ...bareInfo('x', '1', `desc ${evil}`, 'Debian'), declared: true, settings: { k: { description: evil, default: evil, example: evil } }, ports: [{ port: 1, description: evil }], volumes: [{ path: '/v', description: evil }], tests: [evil], readme: `# x\n\n${evil} <script>alert(2)</script> [repo file](../../lib/x.ts) [anchor](#size) ![pic](https://example.com/p.png)\n\n## Size\n` };
  const view = { name: 'x', info, version: '1', base: 'Debian', archs: [{ arch: 'amd64', versions: [{ key: '20261126_14:05', applianceVersion: '1', fingerprint: 'f'.repeat(64), size: 1, files: [], attachments: [] }] }] };
  const page = appliancePage(view, siteOf());
  assert.not.match(page, /<img|<script>alert/);
  assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;'));
  assert.not.match(page, /href="[^"]*lib\/x\.ts"/, 'no link into the git repository');
  assert.match(page, /href="#readme-size"/);
  assert.match(page, /id="readme-size"/);
  assert.not.match(page, /example\.com/, 'no external image');
  assert.equal(images.products, {});
  assert.match(renderReadme('a <b>b</b>').value, /&lt;b&gt;/);
});

test('SBOM, provenance and audit links appear only when the index has such items', async () => {
  const s = scratch('catalogue-test-');
  try {
    const reg = join(s.dir, 'registry');
    await addImages(reg, [await fakeImage(s.dir, { name: 'nginx' })]);
    const images = JSON.parse(read(reg, 'streams/v1/images.json')) as ImagesJson;
    let page = appliancePage(catalogueView(images, {})[0], siteOf());
    assert.not.match(page, /SBOM|Provenance|Audit/);
    const v = Object.values(images.products['nginx:amd64:default'].versions)[0];
    v.items['sbom.spdx.json'] = { ftype: 'sbom.spdx.json', path: `images/${'a'.repeat(64)}.spdx.json`, sha256: 'a'.repeat(64), size: 10 };
    page = appliancePage(catalogueView(images, {})[0], siteOf());
    assert.match(page, new RegExp(`<a href="\\.\\./images/${'a'.repeat(64)}\\.spdx\\.json">SBOM \\(SPDX\\)</a>`));
    assert.not.match(page, /Provenance|Audit/);
  } finally {
    s.cleanup();
  }
});

test('every page of the real appliances weighs under 100 KB; catalogue: false writes none', async () => {
  const s = scratch('catalogue-test-');
  try {
    const reg = join(s.dir, 'registry');
    const versions: Record<string, string> = { caddy: '2.6', nginx: '1.26', postgres: '17', redis: '8.0', traefik: '3.7' };
    const imgs = [];
    for (const [name, version] of Object.entries(versions)) for (const arch of ['amd64', 'arm64'] as const) imgs.push(await fakeImage(s.dir, { name, version, arch }));
    await addImages(reg, imgs);
    const records = JSON.parse(read(reg, '.catalogue.json')).appliances;
    for (const name of Object.keys(versions)) {
      assert.ok(records[name].declared, `${name}: the project's declaration was recorded (version matches)`);
      const size = readFileSync(join(reg, 'appliances', `${name}.html`)).length;
      assert.ok(size < 100_000, `${name}.html is ${size} bytes`);
      assert.ok(size > 10_000, `${name}.html has its README (${size} bytes)`);
    }
    assert.ok(readFileSync(join(reg, 'index.html')).length < 100_000);
    const bare = join(s.dir, 'bare');
    await addImages(bare, [imgs[0]], { catalogue: false });
    assert.equal(readdirSync(bare).sort(), ['.state.json', 'images', 'streams']);
  } finally {
    s.cleanup();
  }
});

test.run();
