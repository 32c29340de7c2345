/** `build.ts serve` as a user runs it: printed instructions, access log, clean exit on SIGTERM/SIGINT. */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli, testEnv } from '../helpers.ts';
import { addImages } from '../../lib/registry/index.ts';
import { fakeImage, scratch } from '../registry/fake-images.ts';
import { get, until } from './helpers.ts';

/**
 * A scratch folder the server can read after dropping root (as root, serve becomes `nobody`;
 * mkdtemp makes folders 0700).
 */
function readableScratch() {
  const s = scratch('serve-verb-');
  chmodSync(s.dir, 0o755);
  return s;
}

/** Starts `build.ts serve` as a child on a free port; resolves once it prints its URL. */
function startChild(args: string[], detached = false) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'build.ts'), 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: ROOT, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, out: () => out, err: () => err };
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`serve prints the client commands, logs requests, and exits 0 on ${signal}`, async () => {
    const s = readableScratch();
    try {
      const reg = join(s.dir, 'registry');
      await addImages(reg, [await fakeImage(s.dir)]);
      const certDir = join(s.dir, 'certs');
      const c = startChild(['--registry', reg, '--cert-dir', certDir, '--remote', 'myremote']);
      await until(() => /Access log follows/.test(c.out()), 20_000).catch(() => { throw new Error(`serve did not start: ${c.out()}${c.err()}`); });
      const out = c.out();
      const port = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
      const cert = join(certDir, 'server.crt');
      assert.ok(out.includes(`incus remote add myremote https://127.0.0.1:${port} --protocol simplestreams`), out);
      assert.ok(out.includes(`mkdir -p ~/.config/incus/servercerts && cp ${cert} ~/.config/incus/servercerts/myremote.crt`), out);
      assert.ok(out.includes(`lxc remote add myremote https://127.0.0.1:${port} --protocol simplestreams --public`), out);
      assert.ok(out.includes(`/servercerts/myremote.crt`), out);
      assert.match(out, /--accept-certificate does nothing/);
      const r = await get(port, readFileSync(cert), '/streams/v1/index.json');
      assert.is(r.status, 200);
      await until(() => /"GET \/streams\/v1\/index\.json" 200 /.test(c.out()));
      c.child.kill(signal);
      const { code } = await c.exited;
      assert.is(code, 0, c.err());
      assert.match(c.err(), /stopped/);
    } finally {
      s.cleanup();
    }
  });
}

test('Ctrl-C (SIGINT to the whole process group) with several server processes: clean stop, exit 0', async () => {
  const s = readableScratch();
  try {
    const reg = join(s.dir, 'registry');
    await addImages(reg, [await fakeImage(s.dir)]);
    const c = startChild(['--registry', reg, '--cert-dir', join(s.dir, 'certs'), '--workers', '3'], true);
    await until(() => /Access log follows/.test(c.out()), 20_000).catch(() => { throw new Error(`serve did not start: ${c.out()}${c.err()}`); });
    assert.match(c.out(), /3 processes/);
    const port = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(c.out())![1]);
    const ca = readFileSync(join(s.dir, 'certs', 'server.crt'));
    // Several requests: they land on different workers; every access-log line reaches stdout.
    for (let i = 0; i < 6; i++) assert.is((await get(port, ca, '/streams/v1/index.json')).status, 200);
    await until(() => (c.out().match(/"GET \/streams\/v1\/index\.json" 200 /g) ?? []).length === 6);
    process.kill(-c.child.pid!, 'SIGINT');
    const { code } = await c.exited;
    assert.is(code, 0, c.err());
    assert.not.match(c.err(), /died/);
  } finally {
    s.cleanup();
  }
});

test('serve: user errors are messages, not stack traces', async () => {
  const s = readableScratch();
  try {
    const missing = await runCli(['serve', '--registry', join(s.dir, 'nope'), '--port', '0']);
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /no registry yet/);
    const half = await runCli(['serve', '--registry', s.dir, '--cert', 'x.pem']);
    assert.is(half.code, 1);
    assert.match(half.stderr, /--cert and --key go together/);
    const port = await runCli(['serve', '--registry', s.dir, '--port', '99999']);
    assert.is(port.code, 1);
    const limit = await runCli(['serve', '--registry', s.dir, '--port', '0', '--idle-timeout', '0']);
    assert.is(limit.code, 1);
    assert.match(limit.stderr, /--idle-timeout: expected an integer >= 1/);
    // A certificate with another key than its own (two valid PEM files): a mistake, not a bug.
    const pems = mkdtempSync(join(tmpdir(), 'serve-pems-'));
    try {
      const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
      ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(pems, 'a.key'), '-out', join(pems, 'a.crt'), '-days', '1', '-subj', '/CN=a']);
      ssl(['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(pems, 'b.key')]);
      mkdirSync(join(s.dir, 'streams', 'v1'), { recursive: true });
      const mismatch = await runCli(['serve', '--registry', s.dir, '--port', '0', '--cert', join(pems, 'a.crt'), '--key', join(pems, 'b.key')]);
      assert.is(mismatch.code, 1, mismatch.stderr);
      assert.match(mismatch.stderr, /error: --key .*b\.key is not the key of --cert .*a\.crt/, mismatch.stderr);
      assert.not.match(mismatch.stderr, /internal error|\n\s+at /);
    } finally {
      rmSync(pems, { recursive: true, force: true });
    }
  } finally {
    s.cleanup();
  }
});

test.run();
