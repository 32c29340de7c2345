/**
 * kill -9 during re-indexing: a child is frozen right after its n-th event (n = 1, 2, ... until
 * a run completes, so every step of a re-index is hit: temporary copy hashed, file stored,
 * version added, version dropped, images.json written, index.json written, files deleted) and
 * killed there. After each kill the registry verifies; the next run recovers (stale lock taken
 * over, temporary files removed, strays given the grace period).
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addImages } from '../../lib/registry/index.ts';
import { verifyRegistry } from '../../lib/registry/verify.ts';
import { fakeImage, scratch } from './fake-images.ts';

const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);

/** Runs the child; kills it -9 once it reports being frozen. */
function runAndKill(registry: string, image: string, freezeAt: number): Promise<{ frozen?: string; done: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), registry, image, String(freezeAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let frozen: string | undefined;
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^frozen (\S+)$/m.exec(out);
      if (m && !frozen) {
        frozen = m[1];
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (frozen && signal === 'SIGKILL') resolve({ frozen, done: false });
      else if (code === 0 && /^done$/m.test(out)) resolve({ done: true });
      else reject(new Error(`child failed (${code ?? signal}): ${err}`));
    });
  });
}

test('kill -9 after every step of a re-index leaves a registry that verifies; the next run recovers', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    let minute = 0;
    const next = async () => fakeImage(s.dir, { name: 'web', builtAt: new Date(T0 + minute++ * 60_000), payloadBytes: 2 << 20 });
    // Two versions already: every further add drops the oldest and (no grace) deletes its files.
    await addImages(reg, [await next(), await next()], { keep: 2 });
    const phases = new Set<string>();
    let completed = false;
    for (let at = 1; at < 60 && !completed; at++) {
      const file = join(s.dir, `image-${at}.json`);
      writeFileSync(file, JSON.stringify(await next()));
      const r = await runAndKill(reg, file, at);
      completed = r.done;
      if (r.frozen) phases.add(r.frozen);
      const v = await verifyRegistry(reg);
      assert.equal(v.errors, [], `after kill -9 at event ${at} (${r.frozen}): ${v.errors.join('; ')}`);
      // The dead child's lock would be taken over after `stale` (tested once, below); skip the wait here.
      if (!completed) rmSync(join(reg, '.lock'), { recursive: true, force: true });
    }
    assert.ok(completed, 'a run finally completes');
    process.stdout.write(`  killed after each of ${phases.size ? [...phases].join(', ') : '-'} steps; verify passed every time\n`);
    for (const p of ['hash', 'store', 'add', 'drop', 'write', 'delete']) assert.ok(phases.has(p), `killed after a "${p}" step (got ${[...phases].join(', ')})`);

    // A kill that leaves its lock and a half-copied temporary file: the next run takes over.
    const file = join(s.dir, 'image-last.json');
    writeFileSync(file, JSON.stringify(await next()));
    const r = await runAndKill(reg, file, 1); // frozen after hashing: temporary copy on disk
    assert.is(r.frozen, 'hash');
    assert.ok(readdirSync(join(reg, 'images')).some((n) => n.startsWith('.tmp-')), 'a temporary file was left');
    const after = await addImages(reg, [await next()], { keep: 2, lockStaleMs: 2000 });
    assert.is(after.added.length, 1);
    assert.equal(readdirSync(join(reg, 'images')).filter((n) => n.startsWith('.')), []);
    assert.equal((await verifyRegistry(reg)).errors, []);
  } finally {
    s.cleanup();
  }
});

test.run();
