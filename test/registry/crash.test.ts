/**
 * kill -9 during re-indexing: whatever the moment, the registry still verifies (every indexed
 * file exists with its hash), and the next re-index recovers (stale lock taken over, temporary
 * files removed, strays kept for the grace period).
 */
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addImages } from '../../lib/registry/index.ts';
import { verifyRegistry } from '../../lib/registry/verify.ts';
import { fakeImage, scratch } from './fake-images.ts';

const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);

/** Runs the child and SIGKILLs it right after its `killAt`-th event; resolves with events seen. */
function runAndKill(registry: string, list: string, killAt: number): Promise<{ events: string[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), registry, list], { stdio: ['ignore', 'pipe', 'pipe'] });
    const events: string[] = [];
    let buf = '';
    let killed = false;
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        events.push(l);
        if (events.length === killAt && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (!killed && code !== 0) reject(new Error(`child failed (${code ?? signal}): ${err}`));
      else resolve({ events, killed: killed && signal === 'SIGKILL' });
    });
  });
}

test('kill -9 at many points of re-indexing leaves a registry that verifies; the next run recovers', async () => {
  const s = scratch();
  try {
    const reg = join(s.dir, 'registry');
    // Seed: one product already published.
    await addImages(reg, [await fakeImage(s.dir, { name: 'seed' })]);
    const imgs = [];
    for (let i = 0; i < 6; i++) {
      // Some big enough that a kill lands while a file is being copied and hashed.
      imgs.push(await fakeImage(s.dir, { name: i % 2 ? 'web' : 'db', builtAt: new Date(T0 + i * 60_000), payloadBytes: i % 3 === 0 ? 6 << 20 : 0 }));
    }
    const list = join(s.dir, 'images.json');
    writeFileSync(list, JSON.stringify(imgs));
    // A full run has ~10 events per image: kill at points spread over all phases.
    const seen = new Set<string>();
    for (const killAt of [1, 2, 3, 4, 6, 7, 9, 13, 19, 26, 34]) {
      const { events, killed } = await runAndKill(reg, list, killAt);
      if (killed) seen.add(events[killAt - 1]);
      process.stdout.write(`  kill -9 after event ${killAt} (${killed ? events[killAt - 1] : "finished first"})\n`);
      const v = await verifyRegistry(reg);
      assert.equal(v.errors, [], `after kill at event ${killAt} (${events.at(-1)}): ${v.errors.join('; ')}`);
    }
    assert.ok(seen.size >= 4, `killed in several phases: ${[...seen].join(', ')}`);
    // The next run completes: the dead run's lock is taken over, its temporary files removed.
    const r = await addImages(reg, [await fakeImage(s.dir, { name: 'final' })], { lockStaleMs: 2000 });
    assert.is(r.added.length, 1);
    assert.equal(readdirSync(join(reg, 'images')).filter((n) => n.startsWith('.')), []);
    assert.equal((await verifyRegistry(reg)).errors, []);
  } finally {
    s.cleanup();
  }
});

test.run();
