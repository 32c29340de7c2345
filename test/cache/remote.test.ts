/**
 * The remote cache (`--cache URL`) against a REAL nginx with WebDAV PUT (test/cache/nginx.ts),
 * with the fake distrobuilder in clean scratch projects (each one a "clean clone"): a miss builds
 * and uploads (blobs before the manifest), a second clone fetches instead of building, a
 * corrupted blob and a tampered manifest are detected and the node rebuilt, read-only use,
 * a server refusing PUT, a server down or silent, and the config errors. Skipped (reported) when
 * the nginx package is not installed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { project, type Project } from '../graph/project.ts';
import { nginxPath, startNginx, type CacheServer } from './nginx.ts';

const NGINX = nginxPath();
const IMAGE = ['base/debian-trixie:amd64', 'nginx:amd64', 'nginx:amd64/packages'];
let srv: CacheServer;
const projects: Project[] = [];

/** A clean clone. */
function clone(): Project {
  const p = project();
  projects.push(p);
  return p;
}

async function build(p: Project, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await p.run(['--no-index', ...args], env);
  assert.is(r.code, 0, r.all);
  return r;
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const manifests = (sub = '') => (existsSync(join(srv.data, sub, 'manifests')) ? readdirSync(join(srv.data, sub, 'manifests')).sort() : []);
type M = { node: string; hash: string; files: Array<{ name: string; sha256: string; size: number }>; image?: { attestation?: { fingerprint: string } } };
/** The manifest of `node` in the store. */
function manifestOf(node: string): { file: string; m: M } {
  for (const n of manifests()) {
    const file = join(srv.data, 'manifests', n);
    const m = JSON.parse(readFileSync(file, 'utf8')) as M;
    if (m.node === node) return { file, m };
  }
  throw new Error(`no manifest of ${node} in ${manifests().join(', ')}`);
}
const blob = (hex: string) => join(srv.data, 'blobs', 'sha256', hex);
/** A port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
const count = (text: string, re: RegExp) => (text.match(new RegExp(re.source, 'g')) ?? []).length;

if (!NGINX) {
  process.stdout.write('skipped: the remote cache tests need the nginx package (apt-get install nginx); .ci/run installs it\n');
  test.skip('remote cache against a real nginx');
} else {
  test.before(async () => {
    srv = await startNginx(NGINX);
  });
  test.after(async () => {
    for (const p of projects) p.cleanup();
    await srv?.stop();
  });

  test('a miss builds every node and uploads it: blobs that verify, each manifest after its blobs', async () => {
    const a = clone();
    const r = await build(a, ['nginx:amd64', '--cache', srv.rw]);
    assert.equal(a.nodes(), IMAGE);
    assert.is(count(r.stdout, /: uploaded to the cache/), 3, r.all);
    assert.is(manifests().length, 3);
    const blobs = readdirSync(join(srv.data, 'blobs', 'sha256'));
    for (const b of blobs) assert.is(sha(blob(b)), b, `blob ${b} is its content's sha256`);
    // Write order, from nginx's own access log: a manifest is PUT only after all its blobs.
    const log = readFileSync(join(srv.data, '..', 'access.log'), 'utf8').split('\n').filter((l) => /"PUT /.test(l)).map((l) => /"PUT \/rw\/(\S+)/.exec(l)![1]);
    for (const name of manifests()) {
      const m = JSON.parse(readFileSync(join(srv.data, 'manifests', name), 'utf8')) as M;
      const at = log.indexOf(`manifests/${name}`);
      assert.ok(at > 0, `manifest ${name} was PUT`);
      for (const f of m.files) {
        const put = log.indexOf(`blobs/sha256/${f.sha256}`);
        assert.ok(put >= 0 && put < at, `${f.name} of ${m.node} is PUT before its manifest`);
      }
    }
  });

  test('a second clean clone fetches the image from the cache and builds nothing; then it is fresh', async () => {
    const b = clone();
    const r = await build(b, ['nginx:amd64', '--cache', srv.rw]);
    assert.match(r.stdout, /^nginx:amd64: from cache in .*$/m);
    assert.match(r.stdout, /built 1, fresh 0, failed 0 in .*; 1 from cache/);
    assert.equal(b.nodes(), [], 'no distrobuilder run at all: not even the base');
    const { m } = manifestOf('nginx:amd64');
    for (const f of m.files) assert.is(sha(join(b.dir, '.cache/out/nginx-amd64', f.name)), f.sha256, f.name);
    const rec = JSON.parse(b.read('.cache/records/nginx-amd64.json'));
    assert.ok(rec.fetchedAt, 'the record says it was fetched');
    const again = await build(b, ['nginx:amd64', '--cache', srv.rw]);
    assert.match(again.stdout, /built 0, fresh 1, failed 0/);
    assert.not.match(again.stdout, /from cache/);
  });

  test('a corrupted blob is detected, named, discarded; the image is rebuilt (on the fetched packages layer) and uploaded again', async () => {
    const { m } = manifestOf('nginx:amd64');
    const rootfs = m.files.find((f) => f.name === 'rootfs.squashfs')!;
    const bytes = readFileSync(blob(rootfs.sha256));
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(blob(rootfs.sha256), bytes);
    const c = clone();
    const r = await build(c, ['nginx:amd64', '--cache', srv.rw]);
    assert.match(r.stderr, new RegExp(`warning: cache: blob sha256:${rootfs.sha256} \\(rootfs.squashfs of nginx:amd64\\) does not verify: got sha256:[0-9a-f]{64}`));
    assert.equal(c.nodes(), ['nginx:amd64'], 'only the image is packed: the packages layer came from the cache');
    assert.match(r.stdout, /^nginx:amd64\/packages: from cache in /m);
    assert.not.match(r.stdout, /^nginx:amd64: from cache/m);
    assert.is.not(sha(join(c.dir, '.cache/out/nginx-amd64/rootfs.squashfs')), sha(blob(rootfs.sha256)), 'the corrupted bytes are not installed');
    // The new entry verifies: a fourth clone gets it.
    const fresh = manifestOf('nginx:amd64').m;
    for (const f of fresh.files) assert.is(sha(blob(f.sha256)), f.sha256, f.name);
    const d = clone();
    const rd = await build(d, ['nginx:amd64', '--cache', srv.rw]);
    assert.match(rd.stdout, /^nginx:amd64: from cache/m);
    assert.equal(d.nodes(), []);
  });

  test('a tampered manifest is not trusted: a path outside the node, or files of another entry mixed in', async () => {
    const { file, m } = manifestOf('nginx:amd64');
    const good = readFileSync(file);
    // 1. A file name that would write outside the output folder.
    writeFileSync(file, JSON.stringify({ ...m, files: m.files.map((f) => (f.name === 'build.json' ? { ...f, name: '../../../escape' } : f)) }));
    const e = clone();
    const r1 = await build(e, ['nginx:amd64', '--cache-ro', '--cache', srv.rw]);
    assert.match(r1.stderr, /warning: cache: manifest of nginx:amd64 \(manifests\/\w+\.json\) is not trusted: file name "..\/..\/..\/escape" is not a plain file name; building nginx:amd64/);
    assert.equal(e.nodes(), ['nginx:amd64']);
    assert.not.ok(existsSync(join(e.dir, '.cache', 'escape')) || existsSync(join(e.dir, 'escape')));
    // 2. Each blob verifies alone, but rootfs.squashfs is another entry's blob (the packages tree).
    const other = manifestOf('nginx:amd64/packages').m.files[0];
    writeFileSync(file, JSON.stringify({ ...m, files: m.files.map((f) => (f.name === 'rootfs.squashfs' ? { ...f, sha256: other.sha256, size: other.size } : f)) }));
    const f = clone();
    const r2 = await build(f, ['nginx:amd64', '--cache-ro', '--cache', srv.rw]);
    assert.match(r2.stderr, /warning: cache: nginx:amd64: the fetched image is not trusted \(fingerprint [0-9a-f]{64} of incus.tar.xz \+ rootfs.squashfs is not [0-9a-f]{64}\); building it/);
    assert.equal(f.nodes(), ['nginx:amd64']);
    // 3. The manifest of another key.
    writeFileSync(file, JSON.stringify({ ...m, hash: 'ffffffffffffffff' }));
    const g = clone();
    const r3 = await build(g, ['nginx:amd64', '--cache-ro', '--cache', srv.rw]);
    assert.match(r3.stderr, /is not trusted: it is the manifest of key "ffffffffffffffff", not \w+/);
    writeFileSync(file, good);
  });

  test('--cache-ro fetches but never uploads; a server refusing PUT (403) is warned about once, then read-only', async () => {
    const before = manifests();
    const h = clone();
    const r = await build(h, ['hello:amd64', '--cache-ro', '--cache', srv.rw]);
    assert.match(r.stdout, /^base\/debian-trixie:amd64: from cache/m, 'the base is fetched');
    assert.equal(h.nodes(), ['hello:amd64', 'hello:amd64/packages']);
    assert.not.match(r.all, /uploaded to the cache/);
    assert.equal(manifests(), before, 'nothing uploaded');
    const i = clone();
    const r2 = await build(i, ['hello:amd64', '--cache', srv.ro]);
    assert.is(count(r2.stderr, /no permission to upload; continuing read-only/), 1, r2.all);
    assert.match(r2.stderr, /PUT http:\/\/127\.0\.0\.1:\d+\/ro\/blobs\/sha256\/[0-9a-f]{64}: HTTP 403/);
    assert.equal(manifests(), before, 'nothing uploaded');
    // Read-write, hello goes up (its packages layer and image): the next clone fetches it.
    const j = clone();
    await build(j, ['hello:amd64', '--cache', srv.rw]);
    assert.is(manifests().length, before.length + 2);
  });

  test('a cache that is down, or answers nothing, is a warning: the build goes on without it', async () => {
    const port = await closedPort();
    const k = clone();
    const r = await build(k, ['nginx:amd64', '--cache', `http://127.0.0.1:${port}/cache/`]);
    assert.is(count(r.stderr, /warning: cache: http:\/\/127\.0\.0\.1:\d+\/cache\/ unreachable \(.*ECONNREFUSED.*\): building without the cache from now on/), 1, r.all);
    assert.equal(k.nodes(), IMAGE);
    // A server that accepts and never answers: the timeout ends the wait.
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => void sockets.push(s));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', () => res()));
    try {
      const l = clone();
      const t0 = Date.now();
      const r2 = await build(l, ['nginx:amd64', '--cache', `http://127.0.0.1:${(silent.address() as { port: number }).port}/`], { APPLIANCE_CACHE_TIMEOUT: '1' });
      assert.match(r2.stderr, /unreachable \(GET manifests\/\w+\.json: no response after 1 s\)/);
      assert.equal(l.nodes(), IMAGE);
      assert.ok(Date.now() - t0 < 60_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test('build.config.json names the cache (--force still builds); bad settings are clear errors naming the file and field', async () => {
    const b = projects[1];
    b.write('build.config.json', JSON.stringify({ cache: { url: srv.rw, readOnly: true } }));
    const ok = await b.run(['nginx:amd64', '--no-index', '--force']);
    assert.is(ok.code, 0, ok.all);
    assert.match(ok.stdout, /^cache: http:\/\/127\.0\.0\.1:\d+\/rw\/ \(read-only\)$/m);
    // --force rebuilds the target's own layers: never fetched, though the cache has them (the
    // base they need is: it is not the target's own).
    assert.not.match(ok.stdout, /^nginx:amd64(\/packages)?: from cache/m);
    assert.match(ok.stdout, /^base\/debian-trixie:amd64: from cache/m);
    assert.equal(b.nodes(), ['nginx:amd64', 'nginx:amd64/packages']);
    for (const [doc, msg] of [
      [{ cache: { url: 5 } }, 'build.config.json: cache.url: expected a URL string'],
      [{ cache: 'ftp://x/' }, 'build.config.json: cache: the cache URL must be http:// or https://, got "ftp:"'],
      [{ cache: { url: srv.rw, ro: true } }, 'build.config.json: cache.ro: unknown field (expected url, readOnly, publicKey)'],
    ] as const) {
      b.write('build.config.json', JSON.stringify(doc));
      const r = await b.run(['nginx:amd64', '--no-index']);
      assert.is.not(r.code, 0, r.all);
      assert.ok(r.stderr.includes(msg), r.all);
      assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
    }
    b.write('build.config.json', '{}');
    const bad = await b.run(['nginx:amd64', '--cache', 'not a url']);
    assert.match(bad.stderr, /--cache: not a URL: "not a url"/);
  });

  test('doctor: reachable and writable (probe PUT + DELETE), or why not', async () => {
    const b = projects[1];
    const rw = await b.run(['doctor', '--cache', srv.rw]);
    assert.match(rw.stdout, /Remote cache: http:\/\/127\.0\.0\.1:\d+\/rw\/\n {2}reachable: yes\n {2}writable: yes\n/);
    assert.not.ok(existsSync(join(srv.data, 'doctor')) && readdirSync(join(srv.data, 'doctor')).length > 0, 'the probe object is deleted');
    const ro = await b.run(['doctor', '--cache', srv.ro]);
    assert.match(ro.stdout, /reachable: yes\n {2}writable: NO: PUT .*: HTTP 403/);
    const port = await closedPort();
    const down = await b.run(['doctor', '--cache', `http://127.0.0.1:${port}/`]);
    assert.match(down.stdout, new RegExp(`reachable: NO: HEAD http://127\\.0\\.0\\.1:${port}/manifests/doctor-probe\\.json: ECONNREFUSED`));
  });
}

test.run();
