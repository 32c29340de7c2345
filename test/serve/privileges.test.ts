/**
 * `build.ts serve` started as root gives root up (issue 11): every process of the server (the
 * primary, its workers, the loader's helpers) runs as the unprivileged user once it serves,
 * and it still serves. Needs root: elsewhere these tests are uvu skips, and under CI=true (CI
 * runs as root) a non-root run fails instead.
 */
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, testEnv } from '../helpers.ts';
import { addImages } from '../../lib/registry/index.ts';
import { CI, fakeImage, scratch } from '../registry/fake-images.ts';
import { get, until } from './helpers.ts';

const root = process.getuid?.() === 0;
if (!root && CI) throw new Error('CI=true requires the privilege-drop tests to run as root');
if (!root) process.stdout.write('  SKIP (not a pass): privilege drop needs a test run as root\n');
const rootTest = root ? test : test.skip;

/** The process `pid` and all its descendants, with their real/effective/saved/fs uids. */
function tree(pid: number): { pid: number; comm: string; uids: number[] }[] {
  const out: { pid: number; comm: string; uids: number[] }[] = [];
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      out.push({ pid: p, comm: /^Name:\s*(.*)$/m.exec(status)![1], uids: /^Uid:\s*(.*)$/m.exec(status)![1].split(/\s+/).map(Number) });
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(c));
      }
    } catch { /* exited meanwhile */ }
  };
  visit(pid);
  return out;
}

/** Runs `build.ts serve` until it serves (or exits); returns its output and a stop function. */
async function serve(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'build.ts'), 'serve', '--host', '127.0.0.1', '--port', '0', ...args], { cwd: ROOT, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let code: number | null | undefined;
  void exited.then((c) => { code = c; });
  await until(() => /Access log follows/.test(out) || code !== undefined, 30_000);
  const stop = async () => {
    if (code === undefined) child.kill('SIGTERM');
    return exited;
  };
  return { pid: child.pid!, out: () => out, code: () => code, stop };
}

for (const workers of [1, 2]) {
  rootTest(`started as root with ${workers} process(es): every process runs as nobody, and serves`, async () => {
    const s = scratch('serve-priv-');
    chmodSync(s.dir, 0o755);
    try {
      const reg = join(s.dir, 'registry');
      await addImages(reg, [await fakeImage(s.dir)]);
      const srv = await serve(['--registry', reg, '--cert-dir', join(s.dir, 'certs'), '--workers', String(workers)]);
      try {
        assert.match(srv.out(), /Running as user nobody \(uid \d+\)/, srv.out());
        const port = Number(/https:\/\/127\.0\.0\.1:(\d+)/.exec(srv.out())![1]);
        const r = await get(port, readFileSync(join(s.dir, 'certs', 'server.crt')), '/streams/v1/index.json');
        assert.is(r.status, 200);
        const procs = tree(srv.pid);
        assert.ok(procs.length >= 1 + (workers > 1 ? workers : 0), JSON.stringify(procs));
        for (const p of procs) assert.ok(p.uids.every((u) => u !== 0), `${p.comm} (${p.pid}) still has uid 0: ${p.uids.join(' ')}`);
      } finally {
        assert.is(await srv.stop(), 0, srv.out());
      }
    } finally {
      s.cleanup();
    }
  });
}

rootTest('a registry the user cannot read: serve refuses to start, saying why', async () => {
  const s = scratch('serve-priv-'); // mkdtemp: 0700, nobody cannot enter it
  try {
    const reg = join(s.dir, 'registry');
    await addImages(reg, [await fakeImage(s.dir)]);
    const srv = await serve(['--registry', reg, '--cert-dir', join(s.dir, 'certs'), '--workers', '1']);
    const code = srv.code() ?? await srv.stop();
    assert.is(code, 1, srv.out());
    assert.match(srv.out(), /is not readable by user nobody/);
  } finally {
    s.cleanup();
  }
});

rootTest('--user with an unknown user is a message, not a stack', async () => {
  const s = scratch('serve-priv-');
  try {
    const reg = join(s.dir, 'registry');
    await addImages(reg, [await fakeImage(s.dir)]);
    const srv = await serve(['--registry', reg, '--cert-dir', join(s.dir, 'certs'), '--user', 'no-such-user-here']);
    assert.is(srv.code() ?? await srv.stop(), 1, srv.out());
    assert.match(srv.out(), /no such user/);
    assert.not.match(srv.out(), /\n\s+at /);
  } finally {
    s.cleanup();
  }
});

test.run();
