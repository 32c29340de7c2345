/**
 * The catalogue in a real browser: Debian's `chromium` driven headless by playwright-core (the
 * system executable, no browser download), against `serve` (HTTPS, its self-signed certificate
 * trusted by key) and against a plain static server (python3 -m http.server) holding a
 * `publish`ed copy. Screenshots of the index and an appliance page at desktop and phone widths
 * are saved as artifacts (path printed). Chromium missing: a skip; under CI=true: a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { addImages } from '../../lib/registry/index.ts';
import { publish } from '../../lib/registry/publish.ts';
import { startServer, type RunningServer } from '../../lib/serve/server.ts';
import { launchCommand } from '../../lib/catalogue/commands.ts';
import { readInfoFile } from '../../lib/catalogue/info.ts';
import { CI, fakeImage, withTools, scratch, type NeededTool, type Register } from '../registry/fake-images.ts';
import { get } from '../serve/helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.CATALOGUE_ARTIFACTS ?? join(tmpdir(), 'catalogue-screenshots');
const available = existsSync(CHROMIUM);
if (!available && !CI) process.stdout.write(`  SKIP (not a pass): ${CHROMIUM} not installed (apt-get install chromium): the browser tests of the catalogue\n`);
// Under CI the tests run (and fail at launch) when chromium is missing: .ci/run installs it.
const it = available || CI ? test : test.skip;
/** `it`, further gated on external tools (lib: withTools). */
const itWith = async (...tools: NeededTool[]): Promise<Register> => (available || CI ? withTools(test, ...tools) : it);

const s = scratch('catalogue-browser-');
const reg = join(s.dir, 'registry');
let srv: RunningServer;
let ca: Buffer;
let browser: Browser;
let ctx: BrowserContext;

/** What one page load did: problems reported by the browser, requests made, bytes of the document. */
interface Visit { page: Page; problems: string[]; requests: string[]; bytes: number }

async function visit(context: BrowserContext, url: string, opts: { width?: number; scheme?: 'light' | 'dark' } = {}): Promise<Visit> {
  const page = await context.newPage();
  await page.setViewportSize({ width: opts.width ?? 1280, height: 900 });
  await page.emulateMedia({ colorScheme: opts.scheme ?? 'light' });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => { if (!r.url().startsWith('data:')) requests.push(r.url()); });
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.is(res?.status(), 200, url);
  const bytes = (await res!.body()).length;
  return { page, problems, requests, bytes };
}

const versions: Record<string, string> = { nginx: '1.26', postgres: '17', redis: '8.0' };

test.before(async () => {
  if (!(available || CI)) return;
  const imgs = [];
  for (const arch of ['amd64', 'arm64'] as const) imgs.push(await fakeImage(s.dir, { name: 'nginx', version: versions.nginx, arch }));
  imgs.push(await fakeImage(s.dir, { name: 'postgres', version: versions.postgres }));
  await addImages(reg, imgs);
  srv = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir: join(s.dir, 'certs'), log: () => {} });
  ca = readFileSync(join(s.dir, 'certs', 'server.crt'));
  // Trust exactly this server's key (not "ignore every certificate error").
  const spki = createHash('sha256').update(new X509Certificate(ca).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [`--ignore-certificate-errors-spki-list=${spki}`] });
  ctx = await browser.newContext();
  mkdirSync(ARTIFACTS, { recursive: true });
});

test.after(async () => {
  await browser?.close();
  await srv?.close();
  s.cleanup();
});

it('index and appliance pages: no console errors, nothing fetched but the page, < 100 KB, no sideways scroll at 360 px; screenshots', async () => {
  for (const [name, path] of [['index', '/'], ['postgres', '/appliances/postgres.html']]) {
    for (const [width, scheme] of [[1280, 'light'], [360, 'dark']] as const) {
      const v = await visit(ctx, srv.url + path, { width, scheme });
      assert.equal(v.problems, [], `${path} at ${width}px`);
      assert.equal(v.requests, [srv.url + path], 'one request: the page itself (inline style, script and icon)');
      assert.ok(v.bytes < 100_000, `${path}: ${v.bytes} bytes`);
      const scroll = Number(await v.page.evaluate('document.documentElement.scrollWidth'));
      assert.ok(scroll <= width, `${path} at ${width}px scrolls sideways (${scroll}px wide)`);
      await v.page.screenshot({ path: join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
      await v.page.close();
    }
  }
  process.stdout.write(`  screenshots in ${ARTIFACTS}\n`);
});

it('the index shows every appliance of the registry with version, architectures, sizes and launch command', async () => {
  const v = await visit(ctx, srv.url + '/');
  const cards = await v.page.locator('li.card').allInnerTexts();
  assert.is(cards.length, 2);
  assert.match(cards[0], /nginx[\s\S]*1\.26[\s\S]*Debian 13 \(trixie\)[\s\S]*amd64 · \d[\s\S]*arm64 · \d[\s\S]*incus launch appliance:nginx web/);
  assert.match(cards[1], /postgres[\s\S]*incus launch appliance:postgres db/);
  // The script filled in the address the page came from.
  assert.match(await v.page.innerText('pre[aria-label="add the remote"]'), new RegExp(`^incus remote add appliance ${srv.url} --protocol simplestreams$`));
  await v.page.close();
});

/** Every link of `url`'s page: same-origin targets answer 200, in-page anchors exist. */
async function checkLinks(url: string, status: (u: URL) => Promise<number>): Promise<string[]> {
  const v = await visit(ctx, url);
  const links = await v.page.locator('a[href]').evaluateAll((as) => as.map((a) => (a as unknown as { href: string }).href));
  const ids = new Set(await v.page.$$eval('[id]', (els) => els.map((e) => e.id)));
  await v.page.close();
  for (const href of links) {
    const u = new URL(href);
    assert.is(u.origin, new URL(url).origin, `${url}: external link ${href}`);
    if (u.pathname === new URL(url).pathname && u.hash) assert.ok(ids.has(decodeURIComponent(u.hash.slice(1))), `${url}: anchor ${u.hash} missing`);
    else assert.is(await status(u), 200, `${url}: ${href}`);
  }
  return links.filter((l) => l.endsWith('.html'));
}

it('every link of every page resolves (200), every anchor exists', async () => {
  const head = async (u: URL) => (await get(srv.port, ca, u.pathname, { method: 'HEAD' })).status;
  const pages = await checkLinks(srv.url + '/', head);
  assert.ok(pages.length >= 2);
  for (const p of new Set(pages)) await checkLinks(p, head);
});

it('the copy button copies the launch command (with the example settings)', async () => {
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.url });
  const v = await visit(ctx, srv.url + '/appliances/postgres.html');
  await v.page.click('pre[aria-label="launch postgres"] + button.copy');
  await v.page.waitForFunction(`document.querySelector('pre[aria-label="launch postgres"] + button')?.textContent === 'Copied'`);
  const copied = String(await v.page.evaluate('navigator.clipboard.readText()'));
  const info = (await readInfoFile(reg)).appliances.postgres;
  assert.is(copied, launchCommand(info, 'appliance'));
  assert.match(copied, /^incus launch appliance:postgres db \\\n {4}-c user\.postgres\.password=/);
  assert.equal(v.problems, []);
  await v.page.close();
});

it('readable without JavaScript; the filter box narrows the cards when it runs', async () => {
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  try {
    const v = await visit(noJs, srv.url + '/appliances/nginx.html');
    const text = await v.page.innerText('main');
    assert.match(text, /incus remote add appliance https:\/\/REGISTRY-HOST:8443 --protocol simplestreams/);
    assert.match(text, /incus launch appliance:nginx web/);
    assert.is(await v.page.locator('button.copy').count(), 0, 'no dead buttons');
    const index = await visit(noJs, srv.url + '/');
    assert.not.ok(await index.page.isVisible('#filter'), 'no filter box without its script');
  } finally {
    await noJs.close();
  }
  const v = await visit(ctx, srv.url + '/');
  await v.page.fill('#filter', 'postgres');
  assert.is(await v.page.locator('li.card:visible').count(), 1);
  await v.page.fill('#filter', 'no-such-thing');
  assert.is(await v.page.locator('li.card:visible').count(), 0);
  assert.ok(await v.page.isVisible('#none'));
  await v.page.close();
});

it('light and dark colour schemes', async () => {
  const lum = async (scheme: 'light' | 'dark') => {
    const v = await visit(ctx, srv.url + '/', { scheme });
    const rgb = String(await v.page.evaluate('getComputedStyle(document.body).backgroundColor'));
    await v.page.close();
    const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
    return (r + g + b) / 3;
  };
  assert.ok((await lum('light')) > 200);
  assert.ok((await lum('dark')) < 50);
});

it('a newly built appliance is on the pages after the re-index', async () => {
  const v = await visit(ctx, srv.url + '/');
  assert.not.ok((await v.page.innerText('main')).includes('redis'));
  await addImages(reg, [await fakeImage(s.dir, { name: 'redis', version: versions.redis })]);
  await v.page.reload();
  assert.is(await v.page.locator('li.card').count(), 3);
  await v.page.click('a[href="appliances/redis.html"]');
  await v.page.waitForURL(/redis\.html$/);
  assert.match(await v.page.innerText('h1'), /redis/);
  assert.match(await v.page.innerText('#settings ~ .table, section[aria-labelledby="settings"]'), /user\.redis\.password/);
  assert.equal(v.problems, []);
  await v.page.close();
});

(await itWith({ cmd: 'incus', why: 'the pasted commands are run with the real Incus client' }, { cmd: 'openssl', why: 'the certificate step uses openssl s_client' }))('the commands pasted from the page add a remote that real Incus lists (incus image list, no daemon needed)', async () => {
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.url });
  const v = await visit(ctx, srv.url + '/appliances/nginx.html');
  const copy = async (label: string) => {
    await v.page.click(`pre[aria-label="${label}"] + button.copy`);
    return String(await v.page.evaluate('navigator.clipboard.readText()'));
  };
  const script = `${await copy('trust the certificate')}\n${await copy('add the remote')}\nincus image list appliance: --format csv -c lf\n`;
  await v.page.close();
  const home = join(s.dir, 'home');
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.INCUS_CONF;
  const r = await execa('bash', ['-euo', 'pipefail', '-c', script], { env, reject: false, all: true });
  assert.is(r.exitCode, 0, r.all);
  assert.ok(readFileSync(join(home, '.config/incus/servercerts/appliance.crt')).equals(ca), 'the fetched certificate is the server\'s');
  assert.match(r.stdout, /^nginx \(\d more\),[0-9a-f]{12}$/m);
  assert.match(r.stdout, new RegExp(new X509Certificate(ca).fingerprint256.replace(/:/g, ':?'), 'i'), 'the fingerprint to compare is printed');
});

/** A free TCP port on 127.0.0.1 (for a server we cannot ask to pick one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

(await itWith({ cmd: 'python3', why: 'the second, plain static server' }))('the published pages work from a plain static server (python3 -m http.server)', async () => {
  const site = join(s.dir, 'site');
  await publish(reg, site);
  const port = await freePort();
  const py: ChildProcess = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', site], { stdio: 'ignore' });
  try {
    const base = `http://127.0.0.1:${port}`;
    const status = (u: URL) => new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: u.pathname, method: 'HEAD' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end();
    });
    for (let i = 0; i < 100; i++) {
      if (await status(new URL(base + '/')).catch(() => 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const pages = await checkLinks(base + '/', status);
    for (const p of new Set(pages)) await checkLinks(p, status);
    const v = await visit(ctx, base + '/appliances/nginx.html', { width: 360 });
    assert.equal(v.problems, []);
    assert.match(await v.page.innerText('pre[aria-label="add the remote"]'), new RegExp(`incus remote add appliance ${base} `));
    await v.page.close();
  } finally {
    py.kill();
  }
});

test.run();
