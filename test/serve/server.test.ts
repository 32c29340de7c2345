/** The HTTPS server: static files, conditional and range requests, refusals, plain HTTP, TLS 1.3, shutdown. */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addImages, readImages } from '../../lib/registry/index.ts';
import { ensureCertificate } from '../../lib/serve/cert.ts';
import { parseRange, resolveRequestPath } from '../../lib/serve/static.ts';
import { startServer, type RunningServer } from '../../lib/serve/server.ts';
import { fakeImage, scratch } from '../registry/fake-images.ts';
import { get, plainHttp, rawTls, until } from './helpers.ts';

const s = scratch('serve-test-');
const reg = join(s.dir, 'registry');
const certDir = join(s.dir, 'certs');
let srv: RunningServer;
let ca: Buffer;
const logs: string[] = [];
let rootfsPath = '';

test.before(async () => {
  const img = await fakeImage(s.dir, { payloadBytes: 300_000 });
  await addImages(reg, [img]);
  const images = await readImages(reg);
  rootfsPath = images.products['nginx:amd64:default'].versions['20261126_14:05'].items['root.squashfs'].path;
  // Escapes and inside links.
  mkdirSync(join(s.dir, 'outside'));
  writeFileSync(join(s.dir, 'outside', 'secret.txt'), 'SECRET-OUTSIDE\n');
  symlinkSync(join(s.dir, 'outside', 'secret.txt'), join(reg, 'images', 'evil.txt'));
  symlinkSync(join(s.dir, 'outside'), join(reg, 'outdir'));
  symlinkSync('/etc', join(reg, 'etc'));
  symlinkSync(join('..', 'streams', 'v1', 'index.json'), join(reg, 'images', 'inside-link.json'));
  srv = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir, log: (l) => logs.push(l) });
  ca = readFileSync(join(certDir, 'server.crt'));
});

test.after(async () => {
  await srv?.close();
  s.cleanup();
});

test('self-signed certificate: SAN localhost, 127.0.0.1, host name; key 0600; reused on the next start', async () => {
  const x = new X509Certificate(ca);
  assert.match(x.subjectAltName!, /DNS:localhost/);
  assert.match(x.subjectAltName!, /IP Address:127\.0\.0\.1/);
  assert.match(x.subjectAltName!, new RegExp(`DNS:${execFileSync('hostname').toString().trim().replace(/\./g, '\\.')}`));
  assert.is(statSync(join(certDir, 'server.key')).mode & 0o777, 0o600);
  const again = await ensureCertificate(certDir);
  assert.is(again.generated, false);
  assert.ok(again.cert.equals(ca));
  assert.is(srv.url, `https://127.0.0.1:${srv.port}`);
});

test('TLS 1.3 is offered', async () => {
  const proto = await new Promise<string | null>((resolve, reject) => {
    const c = tlsConnect({ host: '127.0.0.1', port: srv.port, ca, servername: 'localhost', minVersion: 'TLSv1.3' }, () => {
      resolve(c.getProtocol());
      c.end();
    });
    c.on('error', reject);
  });
  assert.is(proto, 'TLSv1.3');
});

test('GET and HEAD: status, Content-Length, Content-Type, ETag, body', async () => {
  const file = readFileSync(join(reg, 'streams/v1/index.json'));
  const r = await get(srv.port, ca, '/streams/v1/index.json');
  assert.is(r.status, 200);
  assert.is(r.headers['content-type'], 'application/json');
  assert.is(r.headers['content-length'], String(file.length));
  assert.ok(r.body.equals(file));
  assert.match(String(r.headers.etag), /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
  assert.is(r.headers['accept-ranges'], 'bytes');
  const h = await get(srv.port, ca, '/streams/v1/index.json', { method: 'HEAD' });
  assert.is(h.status, 200);
  assert.is(h.headers['content-length'], String(file.length));
  assert.is(h.headers.etag, r.headers.etag);
  assert.is(h.body.length, 0);

  const img = readFileSync(join(reg, rootfsPath));
  const g = await get(srv.port, ca, '/' + rootfsPath);
  assert.is(g.status, 200);
  assert.is(g.headers['content-type'], 'application/octet-stream');
  assert.is(g.headers['content-length'], String(img.length));
  assert.ok(g.body.equals(img));
  assert.is(g.headers.etag, `"${rootfsPath.slice(7, 71)}"`, 'content-addressed files use their hash');
  assert.match(String(g.headers['cache-control']), /immutable/);
  const meta = await get(srv.port, ca, '/' + rootfsPath.replace(/\.squashfs$/, '.incus.tar.xz'));
  assert.is(meta.status, 404);
  const m = (await readImages(reg)).products['nginx:amd64:default'].versions['20261126_14:05'].items['incus.tar.xz'].path;
  assert.is((await get(srv.port, ca, '/' + m)).headers['content-type'], 'application/x-xz');
});

test('If-None-Match -> 304; a different ETag -> 200', async () => {
  const r = await get(srv.port, ca, '/streams/v1/images.json');
  const etag = String(r.headers.etag);
  const c = await get(srv.port, ca, '/streams/v1/images.json', { headers: { 'If-None-Match': etag } });
  assert.is(c.status, 304);
  assert.is(c.body.length, 0);
  assert.is(c.headers.etag, etag);
  assert.is((await get(srv.port, ca, '/streams/v1/images.json', { headers: { 'If-None-Match': '"other", ' + etag } })).status, 304);
  assert.is((await get(srv.port, ca, '/streams/v1/images.json', { headers: { 'If-None-Match': '"other"' } })).status, 200);
  assert.is((await get(srv.port, ca, '/' + rootfsPath, { headers: { 'If-None-Match': `"${rootfsPath.slice(7, 71)}"` } })).status, 304);
});

test('Range: 206 with Content-Range for a single range; 416 when unsatisfiable', async () => {
  const img = readFileSync(join(reg, rootfsPath));
  const size = img.length;
  const a = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: 'bytes=0-99' } });
  assert.is(a.status, 206);
  assert.is(a.headers['content-range'], `bytes 0-99/${size}`);
  assert.is(a.headers['content-length'], '100');
  assert.ok(a.body.equals(img.subarray(0, 100)));
  const b = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: `bytes=${size - 10}-` } });
  assert.is(b.status, 206);
  assert.ok(b.body.equals(img.subarray(size - 10)));
  const c = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: 'bytes=-7' } });
  assert.ok(c.body.equals(img.subarray(size - 7)));
  assert.is(c.headers['content-range'], `bytes ${size - 7}-${size - 1}/${size}`);
  const d = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: `bytes=${size}-` } });
  assert.is(d.status, 416);
  assert.is(d.headers['content-range'], `bytes */${size}`);
  const e = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: 'bytes=0-1,5-6' } });
  assert.is(e.status, 200, 'multiple ranges: the whole file');
  assert.is(e.body.length, size);
  const f = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: 'bytes=0-9', 'If-Range': '"stale"' } });
  assert.is(f.status, 200, 'If-Range with another ETag: the whole file');
  const g = await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: 'bytes=0-9', 'If-Range': `"${rootfsPath.slice(7, 71)}"` } });
  assert.is(g.status, 206);
  assert.equal(parseRange('bytes=5-2', 10), 'ignore');
  assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=2-100', 10), { start: 2, end: 9 });
});

test('404 for missing files, directories (no listing) and dot files; 405 for other methods', async () => {
  // `/` is the web catalogue's index.html (test/catalogue/); its folders are not listed either.
  for (const p of ['/nope.json', '/appliances/', '/images', '/images/', '/streams/v1/', '/.state.json', '/.catalogue.json', '/.lock', '/images/.tmp-x']) {
    const r = await get(srv.port, ca, p);
    assert.is(r.status, 404, p);
    assert.not.match(r.body.toString(), /\.json|squashfs/, `${p}: no listing`);
  }
  const post = await get(srv.port, ca, '/streams/v1/index.json', { method: 'POST' });
  assert.is(post.status, 405);
  assert.is(post.headers.allow, 'GET, HEAD');
  assert.is((await get(srv.port, ca, '/streams/v1/index.json', { method: 'DELETE' })).status, 405);
});

test('paths escaping the registry are refused: ../, encoded, double-encoded, backslashes, NUL, symlinks', async () => {
  const cases = [
    '/../outside/secret.txt', '/streams/../../outside/secret.txt', '/images/../streams/v1/index.json',
    '/%2e%2e/outside/secret.txt', '/%2E%2E/%2e%2e/etc/passwd', '/.%2e/outside/secret.txt',
    '/images%2f..%2f..%2foutside%2fsecret.txt', '/images/..%2F..%2Fetc%2Fpasswd',
    '/%252e%252e/outside/secret.txt', '/%25%32%65%25%32%65/etc/passwd',
    '/..%5c..%5coutside%5csecret.txt', '/images/%00evil.txt', '/streams/v1/index.json%00.txt', '/%zz',
    '/images/evil.txt', '/outdir/secret.txt', '/etc/passwd', '/etc/hostname',
  ];
  for (const p of cases) {
    const r = await get(srv.port, ca, p);
    if (process.env.DEBUG_SERVE) process.stdout.write(`  ${r.status} ${p}\n`);
    assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
    assert.not.match(r.body.toString(), /SECRET-OUTSIDE|root:/, `${p} leaked`);
  }
  // Request targets Node's client would not send.
  for (const line of ['GET /..\\..\\outside\\secret.txt HTTP/1.1', 'GET ../outside/secret.txt HTTP/1.1', 'GET https://127.0.0.1/../outside/secret.txt HTTP/1.1']) {
    const out = await rawTls(srv.port, ca, `${line}\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 (400|404) /, line);
    assert.not.match(out, /SECRET-OUTSIDE/);
  }
  // A link that stays inside is fine.
  assert.is((await get(srv.port, ca, '/images/inside-link.json')).status, 200);
  assert.equal(resolveRequestPath('/a/b'), { ok: true, rel: 'a/b' });
  assert.equal(resolveRequestPath('/a/b?x=1'), { ok: true, rel: 'a/b' });
  assert.is(resolveRequestPath('/a//b').ok, false);
});

test('malformed requests over TLS are refused with 4xx, the server keeps serving', async () => {
  for (const raw of ['NOT HTTP AT ALL\r\n\r\n', 'GET /streams/v1/index.json HTTP/9.9\r\n\r\n', 'GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n', `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]) {
    const out = await rawTls(srv.port, ca, raw);
    assert.match(out, /^HTTP\/1\.1 4\d\d /, JSON.stringify(raw.slice(0, 40)));
  }
  assert.is((await get(srv.port, ca, '/streams/v1/index.json')).status, 200);
});

test('plain HTTP on the TLS port is answered 400 and closed at once (Incus tries http:// first)', async () => {
  const r = await plainHttp(srv.port, 1000);
  assert.match(r.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(r.text, /HTTPS only/);
  // Garbage that is neither TLS nor HTTP: the server closes the connection itself (we never do).
  const g = await new Promise<string>((resolve) => {
    const c = netConnect({ host: '127.0.0.1', port: srv.port }, () => c.write(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a])));
    const timer = setTimeout(() => { c.destroy(); resolve('still open after 5 s'); }, 5000);
    c.on('error', () => { clearTimeout(timer); resolve('closed'); });
    c.on('close', () => { clearTimeout(timer); resolve('closed'); });
    c.resume();
  });
  assert.is(g, 'closed');
});

test('access log: one line per request with method, path, status, bytes, ms', async () => {
  const before = logs.length;
  await get(srv.port, ca, '/streams/v1/index.json');
  await get(srv.port, ca, '/missing');
  await get(srv.port, ca, '/' + rootfsPath, { headers: { Range: 'bytes=0-9' } });
  await until(() => logs.length >= before + 3);
  await new Promise((r) => setTimeout(r, 50));
  const lines = logs.slice(before);
  assert.is(lines.length, 3);
  const size = statSync(join(reg, 'streams/v1/index.json')).size;
  assert.match(lines[0], new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z 127\\.0\\.0\\.1 "GET /streams/v1/index\\.json" 200 ${size} \\d+ms$`));
  assert.match(lines[1], /"GET \/missing" 404 /);
  assert.match(lines[2], / 206 10 \d+ms$/);
  const evil = logs.length;
  await rawTls(srv.port, ca, 'GET /a%0d%0aforged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await until(() => logs.length > evil);
  assert.not.match(logs.at(-1)!, /[\r\n]/);
});

test('close(): an in-flight download finishes, new connections are refused', async () => {
  const s2 = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir, log: () => {} });
  const big = join(reg, 'images', 'big.bin');
  writeFileSync(big, Buffer.alloc(48 << 20, 7));
  // Start a download and stop reading it, so it is still in flight when close() is called.
  let received = 0;
  let resume: (() => void) | undefined;
  const done = new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: s2.port, path: '/images/big.bin', ca, agent: false }, (res) => {
      res.pause();
      resume = () => res.resume();
      res.on('data', (c: Buffer) => { received += c.length; });
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  await until(() => resume !== undefined);
  await new Promise((r) => setTimeout(r, 50));
  let closed = false;
  const closing = s2.close().then(() => { closed = true; });
  await new Promise((r) => setTimeout(r, 100));
  assert.not.ok(closed, 'close waits for the in-flight download');
  let refused = false;
  try {
    await get(s2.port, ca, '/streams/v1/index.json');
  } catch {
    refused = true;
  }
  assert.ok(refused, 'no new connection once closing');
  resume!();
  assert.is(await done, 200);
  assert.is(received, 48 << 20);
  await closing;
  assert.ok(closed);
});

test.run();
