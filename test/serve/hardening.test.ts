/**
 * The server against hostile clients (issue 11): slowloris on the handshake, the headers and
 * idle keep-alive; pipelined requests; readers that stop reading; oversized requests; FIFOs in
 * the registry; connection caps; the private key inside the served folder. Every test bounds
 * its own wait: the failure it guards against is a connection or request that stays open.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, constants, existsSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addImages } from '../../lib/registry/index.ts';
import { startServer, type RunningServer } from '../../lib/serve/server.ts';
import { fakeImage, scratch } from '../registry/fake-images.ts';
import { closesWithin, fdsTo, get, rawTls, tlsOpen, until, watch } from './helpers.ts';

/** uvu/assert has no rejects(): resolves when `fn` rejects (with a message matching `re`). */
async function rejects(fn: () => Promise<unknown>, re?: RegExp | string): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a rejection${typeof re === 'string' ? `: ${re}` : ''}`);
  if (re instanceof RegExp) assert.match((err as Error).message, re);
}

const s = scratch('serve-hard-');
const reg = join(s.dir, 'registry');
const certDir = join(s.dir, 'certs');
const big = join(reg, 'images', 'big.bin');
const BIG = 32 << 20; // more than loopback socket buffers absorb, so a non-reader really stalls
const LIMITS = { handshakeTimeoutMs: 600, headersTimeoutMs: 800, idleTimeoutMs: 500, sendTimeoutMs: 800, maxPipelined: 8, maxCutsPerAddress: 1000 };
let srv: RunningServer;
let ca: Buffer;
const logs: string[] = [];

test.before(async () => {
  await addImages(reg, [await fakeImage(s.dir)]);
  writeFileSync(big, randomFillSync(Buffer.alloc(BIG)));
  srv = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir, log: (l) => logs.push(l), limits: LIMITS });
  ca = readFileSync(join(certDir, 'server.crt'));
});

const FIFOS = ['streams/v1/fifo.json', 'images/fifo.squashfs'].map((f) => join(reg, f));

/** Releases whatever is stuck opening the FIFOs (a server that opens before checking would be), then removes them. */
async function releaseFifos(): Promise<void> {
  for (let i = 0; i < 10; i++) {
    for (const f of FIFOS) {
      try {
        closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch { /* no reader waiting */ }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const f of FIFOS) rmSync(f, { force: true });
}

test.after(async () => {
  await Promise.race([srv?.close(), new Promise((r) => setTimeout(r, 3000))]);
  s.cleanup();
  // A regression may leave connections open (that is what these tests look for): exit anyway.
  setTimeout(() => process.exit(), 5000).unref();
});

test('slowloris: a trickled request line, trickled headers, and silence are all cut by hard deadlines', async () => {
  const line = await tlsOpen(srv.port, ca);
  const headers = await tlsOpen(srv.port, ca);
  const silent = await tlsOpen(srv.port, ca);
  const noTls = watch(netConnect({ host: '127.0.0.1', port: srv.port }));
  // A TLS record header, then one byte of the ClientHello at a time: never completes.
  const hello = watch(netConnect({ host: '127.0.0.1', port: srv.port }, () => hello.sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))));
  headers.sock.write('GET /streams/v1/index.json HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => {
    if (!line.isClosed()) line.sock.write('a');
    if (!headers.sock.destroyed) headers.sock.write('X-a: b\r\n');
    if (!hello.sock.destroyed) hello.sock.write(Buffer.from([0x01]));
  }, 150);
  line.sock.write('GET /streams/v1/');
  try {
    // Deadlines: handshake 0.6 s, headers 0.8 s after the first byte, idle 0.5 s; sweep <= 0.2 s.
    for (const [name, w] of [['request line', line], ['headers', headers], ['silent after handshake', silent], ['silent before TLS', noTls], ['trickled handshake', hello]] as const) {
      assert.ok(await closesWithin(w, 2500), `${name}: still open after 2.5 s`);
    }
  } finally {
    clearInterval(drip);
    for (const w of [line, headers, silent, noTls, hello]) w.sock.destroy();
  }
  assert.ok(logs.some((l) => /"- \(headers timeout\)" 408 /.test(l)), 'headers timeout logged');
  assert.ok(logs.some((l) => /"- \(handshake timeout\)" 408 /.test(l)), 'handshake timeout logged');
});

test('keep-alive: a request sent within the idle timeout is served on the same connection', async () => {
  const c = await tlsOpen(srv.port, ca);
  let out = '';
  c.sock.on('data', (d) => { out += d; });
  c.sock.write('GET /streams/v1/index.json HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => /\r\n\r\n\{/.test(out), 2000);
  await new Promise((r) => setTimeout(r, 300)); // idle, under 0.5 s
  c.sock.write('GET /streams/v1/index.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await closesWithin(c, 2000);
  assert.is((out.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 2);
});

test('pipelining: queued requests open no file; one request over the cap closes the connection', async () => {
  const req = 'GET /images/big.bin HTTP/1.1\r\nHost: x\r\n\r\n';
  const few = await tlsOpen(srv.port, ca);
  few.sock.pause(); // never read: the first response stalls, the others wait behind it
  few.sock.write(req.repeat(5));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(fdsTo(big) <= 1, `5 pipelined requests hold ${fdsTo(big)} handles of the file (expected at most 1)`);
  few.sock.destroy();

  const many = await tlsOpen(srv.port, ca);
  many.sock.pause();
  many.sock.write(req.repeat(100));
  assert.ok(await closesWithin(many, 1000), '100 pipelined requests: connection still open');
  await until(() => fdsTo(big) === 0, 2000).catch(() => assert.unreachable(`${fdsTo(big)} handles still open after the client left`));
  assert.ok(logs.some((l) => /\(too many pipelined requests\)" 503/.test(l)));
});

test('pipelining within the cap is answered in order', async () => {
  const out = await rawTls(srv.port, ca, 'GET /streams/v1/index.json HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(3) + 'GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(out.match(/^HTTP\/1\.1 \d+/gm), ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 404']);
});

test('send timeout: a client that stops reading is cut and its file closed; a slow reader is not', async () => {
  const stalled = await tlsOpen(srv.port, ca);
  stalled.sock.pause();
  stalled.sock.write('GET /images/big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
  // A paused client cannot see the close: watch the server's side (log, file handle), then read.
  await until(() => logs.some((l) => /\(send timeout\)" 408/.test(l)), 4000).catch(() => assert.unreachable('stalled reader not cut within 4 s'));
  await until(() => fdsTo(big) === 0, 2000);
  let got = 0;
  stalled.sock.on('data', (d: Buffer) => { got += d.length; });
  stalled.sock.resume();
  assert.ok(await closesWithin(stalled, 3000), 'connection closed');
  assert.ok(got < BIG, 'the download was cut');

  // Reads in short bursts with pauses well under the send timeout: gets all it asked for.
  // Progress is seen a TLS write (up to 1 MiB) at a time, so its own server allows 2 s.
  const patient = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir, log: () => {}, limits: { sendTimeoutMs: 2000 } });
  const slow = await tlsOpen(patient.port, ca);
  let body = 0;
  slow.sock.on('data', (d: Buffer) => { body += d.length; });
  slow.sock.pause();
  const burst = setInterval(() => {
    slow.sock.resume();
    setTimeout(() => slow.sock.pause(), 30);
  }, 500);
  const t0 = Date.now();
  slow.sock.write(`GET /images/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-${(16 << 20) - 1}\r\nConnection: close\r\n\r\n`);
  await closesWithin(slow, 20_000);
  clearInterval(burst);
  await patient.close();
  if (process.env.DEBUG_SERVE) process.stdout.write(`  slow reader: ${Date.now() - t0} ms\n`);
  assert.ok(body > 16 << 20, `slow reader got ${body} bytes`);
});

test('oversized request lines and headers get 431, never a reset', async () => {
  for (const size of [20_000, 40_000, 70_000, 300_000]) {
    for (const raw of [`GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(size)}\r\n\r\n`, `GET /${'a'.repeat(size)} HTTP/1.1\r\nHost: x\r\n\r\n`]) {
      const out = await rawTls(srv.port, ca, raw).catch((e: NodeJS.ErrnoException) => `error ${e.code}`);
      assert.match(out, /^HTTP\/1\.1 431 /, `${size} bytes of ${raw.startsWith('GET /x') ? 'header' : 'path'}: ${out.slice(0, 40)}`);
    }
  }
});

test('FIFOs in the registry are 404 at once and never block other requests', async () => {
  execFileSync('mkfifo', FIFOS);
  const bounded = <T>(p: Promise<T>, what: string) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`${what}: no answer in 3 s`)), 3000); });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  };
  // More requests than libuv has pool threads (4): blocking opens would take them all.
  try {
    const fifos = await bounded(Promise.all(Array.from({ length: 6 }, (_, i) => get(srv.port, ca, i % 2 ? '/streams/v1/fifo.json' : '/images/fifo.squashfs'))), 'FIFO requests');
    assert.equal(fifos.map((r) => r.status), [404, 404, 404, 404, 404, 404]);
    assert.is((await bounded(get(srv.port, ca, '/streams/v1/index.json'), 'index.json after FIFOs')).status, 200);
  } finally {
    await releaseFifos();
  }
});

test('connection caps: per address and in total, extra connections are closed at once', async () => {
  const capped = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir, log: (l) => logs.push(l), limits: { maxConnectionsPerAddress: 3, maxConnections: 5 } });
  const open = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await tlsOpen(capped.port, ca));
    await rejects(() => tlsOpen(capped.port, ca), '4th from 127.0.0.1');
    for (let i = 0; i < 2; i++) open.push(await tlsOpen(capped.port, ca, { localAddress: '127.0.0.2' }));
    await rejects(() => tlsOpen(capped.port, ca, { localAddress: '127.0.0.3' }), '6th in total');
    open.pop()!.sock.destroy();
    await new Promise((r) => setTimeout(r, 100));
    open.push(await tlsOpen(capped.port, ca, { localAddress: '127.0.0.3' }));
    assert.ok(logs.some((l) => /127\.0\.0\.1 "- \(too many connections from this address\)" 503/.test(l)));
  } finally {
    for (const w of open) w.sock.destroy();
    await capped.close();
  }
});

test('an address whose connections keep being cut is refused at accept for a minute; others are not', async () => {
  const strict = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir, log: (l) => logs.push(l), limits: { handshakeTimeoutMs: 300, maxCutsPerAddress: 2 } });
  try {
    const silent = [0, 1].map(() => watch(netConnect({ host: '127.0.0.1', port: strict.port, localAddress: '127.0.0.9' })));
    for (const w of silent) assert.ok(await closesWithin(w, 2000), 'silent connection cut');
    await rejects(() => tlsOpen(strict.port, ca, { localAddress: '127.0.0.9' }), 'third connection of a twice-cut address');
    assert.ok(logs.some((l) => /127\.0\.0\.9 "- \(too many cut connections from this address\)" 503/.test(l)));
    const other = await tlsOpen(strict.port, ca, { localAddress: '127.0.0.10' });
    other.sock.destroy();
  } finally {
    await strict.close();
  }
});

test('the private key is never served: certificate folder or key inside the registry refused, hard link 404', async () => {
  const inside = join(reg, 'certs');
  await rejects(() => startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir: inside, log: () => {} }), /inside the served folder/);
  assert.not.ok(existsSync(join(inside, 'server.key')), 'no key generated inside the registry');
  // Through a symlinked registry path, and with --cert/--key.
  execFileSync('ln', ['-s', reg, join(s.dir, 'reg-link')]);
  await rejects(() => startServer({ registryDir: join(s.dir, 'reg-link'), host: '127.0.0.1', port: 0, certDir: inside, log: () => {} }), /inside the served folder/);
  mkdirSync(join(reg, 'tls'));
  for (const f of ['server.crt', 'server.key']) linkSync(join(certDir, f), join(reg, 'tls', f));
  await rejects(() => startServer({ registryDir: reg, host: '127.0.0.1', port: 0, cert: join(reg, 'tls/server.crt'), key: join(reg, 'tls/server.key'), log: () => {} }), /inside the served folder/);
  // A hard link of the running server's key inside the registry: same inode, refused.
  const r = await get(srv.port, ca, '/tls/server.key');
  assert.is(r.status, 404);
  assert.not.match(r.body.toString(), /PRIVATE KEY/);
  assert.is((await get(srv.port, ca, '/tls/server.crt')).status, 200, 'the certificate itself may be fetched');
});

test('registry folders are created 0755 whatever the umask (never world-writable, always readable once root is dropped)', async () => {
  for (const mask of [0o000, 0o077]) {
    const dir = join(s.dir, `umask-${mask.toString(8)}`, 'registry');
    const old = process.umask(mask);
    try {
      await addImages(dir, [await fakeImage(s.dir)]);
    } finally {
      process.umask(old);
    }
    for (const d of ['', 'images', 'streams', 'streams/v1']) {
      assert.is((statSync(join(dir, d)).mode & 0o777).toString(8), '755', `umask ${mask.toString(8)}: ${d || 'registry'}/`);
    }
    for (const f of ['streams/v1/index.json', 'streams/v1/images.json']) assert.is((statSync(join(dir, f)).mode & 0o777).toString(8), '644', f);
  }
});

test.run();
