/**
 * The cache stage alone (lib/cache/stage.ts) against a real nginx WebDAV server, with
 * hand-made image files (no build): a blob found corrupted is uploaded again even though HEAD
 * finds it (same size), and a blob of the wrong size on the server is overwritten. Outputs of a
 * real rebuild differ (timestamps), so the end-to-end suite cannot show the overwrite.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectPaths } from '../../lib/graph/paths.ts';
import type { RunEvent } from '../../lib/graph/events.ts';
import type { TargetRecord } from '../../lib/graph/record.ts';
import type { TargetPlan } from '../../lib/graph/plan.ts';
import type { RunContext } from '../../lib/graph/tree-node.ts';
import { RemoteCache } from '../../lib/cache/stage.ts';
import { nginxPath, startNginx, type CacheServer } from './nginx.ts';

const NGINX = nginxPath();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const HASH = '0123456789abcdef';
let srv: CacheServer;
const dirs: string[] = [];

/** A project folder with hand-made outputs of `x:amd64`; returns its run context and events. */
function side(files?: string): { rc: RunContext; events: RunEvent[]; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'cch-stage-'));
  dirs.push(root);
  const paths = projectPaths(root);
  const out = join(paths.out, 'x-amd64');
  if (files) cpSync(files, out, { recursive: true });
  else mkdirSync(out, { recursive: true });
  const events: RunEvent[] = [];
  const rc = { paths, toolchain: { exe: 'distrobuilder', path: undefined, version: '3.2' }, options: { type: 'split', compression: 'xz' }, context: {}, env: {}, emit: (e: RunEvent) => void events.push(e), signal: new AbortController().signal } as unknown as RunContext;
  return { rc, events, out };
}

/** Image files whose fingerprint and build.json agree, as a real pack writes them. */
function makeImage(out: string): TargetRecord {
  const meta = randomBytes(3000);
  const rootfs = randomBytes(50_000);
  const fingerprint = sha(Buffer.concat([meta, rootfs]));
  const attestation = { fingerprint, packages: 0, manager: 'none', sbom: 'sbom.cdx.json' as const, provenance: 'provenance.intoto.jsonl' as const };
  writeFileSync(join(out, 'incus.tar.xz'), meta);
  writeFileSync(join(out, 'rootfs.squashfs'), rootfs);
  writeFileSync(join(out, 'sbom.cdx.json'), '{}\n');
  writeFileSync(join(out, 'provenance.intoto.jsonl'), '{}\n');
  writeFileSync(join(out, 'build.json'), JSON.stringify({ target: 'x:amd64', hash: HASH, metadata: 'incus.tar.xz', rootfs: 'rootfs.squashfs', attestation }));
  const outputs = Object.fromEntries(['build.json', 'incus.tar.xz', 'provenance.intoto.jsonl', 'rootfs.squashfs', 'sbom.cdx.json'].map((n) => [n, { size: readFileSync(join(out, n)).length, mtimeMs: 0 }]));
  return { target: 'x:amd64', hash: HASH, outputs, builtAt: new Date().toISOString(), durationMs: 1, distrobuilder: '3.2', chain: [], attestation } as unknown as TargetRecord;
}

const plan = { target: 'x:amd64', name: 'x', arch: 'amd64', status: 'stale', reasons: [], chain: [], compiled: { hash: HASH, inputs: {}, meta: { name: 'x', version: '1', description: '', architectures: ['amd64'], base: { name: 'debian', release: 'trixie', title: '' } } } } as unknown as TargetPlan;
const blob = (hex: string) => join(srv.data, 'blobs', 'sha256', hex);

if (!NGINX) {
  process.stdout.write('skipped: the cache stage tests need the nginx package (apt-get install nginx)\n');
  test.skip('cache stage against a real nginx');
} else {
  test.before(async () => {
    srv = await startNginx(NGINX);
  });
  test.after(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await srv?.stop();
  });

  test('a blob that failed verification is PUT again after the rebuild, though HEAD finds it with the right size', async () => {
    const a = side();
    const rec = makeImage(a.out);
    const up = new RemoteCache({ url: srv.rw }, a.rc);
    up.storeImage(rec);
    await up.flush();
    const good = readFileSync(join(a.out, 'rootfs.squashfs'));
    const hex = sha(good);
    assert.equal(readFileSync(blob(hex)), good);
    // Corrupt it in place, same size.
    const bad = Buffer.from(good);
    bad[100] ^= 0xff;
    writeFileSync(blob(hex), bad);
    // Another machine: the fetch sees the bad blob, refuses it...
    const b = side();
    const cache = new RemoteCache({ url: srv.rw }, b.rc);
    assert.is(await cache.fetchImage(plan), undefined);
    assert.ok(b.events.some((e) => e.type === 'warning' && e.message.includes(`blob sha256:${hex} (rootfs.squashfs of x:amd64) does not verify`)), JSON.stringify(b.events));
    // ...builds the same bytes (here: copies them) and uploads: the bad blob is overwritten.
    cpSync(a.out, b.out, { recursive: true });
    cache.storeImage(rec);
    await cache.flush();
    assert.equal(readFileSync(blob(hex)), good, 'the corrupted blob was replaced');
    const c = side();
    const got = await new RemoteCache({ url: srv.rw }, c.rc).fetchImage(plan);
    assert.ok(got, JSON.stringify(c.events));
    assert.equal(readFileSync(join(c.out, 'rootfs.squashfs')), good);
  });

  test('a blob of the wrong size on the server (a broken upload) is overwritten by the next upload', async () => {
    const a = side();
    const rec = makeImage(a.out);
    const up = new RemoteCache({ url: srv.rw }, a.rc);
    up.storeImage(rec);
    await up.flush();
    const meta = readFileSync(join(a.out, 'incus.tar.xz'));
    writeFileSync(blob(sha(meta)), meta.subarray(0, 100));
    const again = new RemoteCache({ url: srv.rw }, side(a.out).rc);
    again.storeImage(rec);
    await again.flush();
    assert.equal(readFileSync(blob(sha(meta))), meta);
  });
}

test.run();
