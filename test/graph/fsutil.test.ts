/**
 * Removal of build folders never reaches through a mount point (a killed distrobuilder can leave
 * /dev, /proc or a bind mount inside its work dir). Mount tests need root and mount permission;
 * without them they are reported as skipped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountsUnder, safeRemove } from '../../lib/graph/fsutil.ts';
import { writeFileAtomicSync } from '../../lib/files.ts';

const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const d = mkdtempSync(join(tmpdir(), 'mnt-probe-'));
  const ok = spawnSync('mount', ['-t', 'tmpfs', 'none', d]).status === 0;
  if (ok) spawnSync('umount', [d]);
  rmSync(d, { recursive: true, force: true });
  return ok;
})();

test('writeFileAtomic leaves no temporary file', () => {
  const d = mkdtempSync(join(tmpdir(), 'atomic-'));
  try {
    writeFileAtomicSync(join(d, 'sub', 'f.json'), '{}\n');
    writeFileAtomicSync(join(d, 'sub', 'f.json'), '{"a":1}\n');
    assert.is(readFileSync(join(d, 'sub', 'f.json'), 'utf8'), '{"a":1}\n');
    assert.equal(spawnSync('ls', [join(d, 'sub')], { encoding: 'utf8' }).stdout.trim().split('\n'), ['f.json']);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

if (!canMount) process.stdout.write('  SKIP (not a pass): not root or mount not permitted: the mount tests are skipped\n');
/** Mount tests: uvu skips (counted as skipped, never passed) where mounting is not permitted. */
const mountTest = canMount ? test : test.skip;

mountTest('safeRemove unmounts what is mounted inside, and never deletes through a bind mount', () => {
  const base = mkdtempSync(join(tmpdir(), 'saferm-'));
  const host = join(base, 'host-dev');
  const build = join(base, 'build');
  mkdirSync(host);
  writeFileSync(join(host, 'precious'), 'keep me');
  mkdirSync(join(build, 'work', 'rootfs', 'dev'), { recursive: true });
  mkdirSync(join(build, 'work', 'rootfs', 'run'), { recursive: true });
  try {
    assert.is(spawnSync('mount', ['--bind', host, join(build, 'work', 'rootfs', 'dev')]).status, 0);
    assert.is(spawnSync('mount', ['-t', 'tmpfs', 'none', join(build, 'work', 'rootfs', 'run')]).status, 0);
    writeFileSync(join(build, 'work', 'rootfs', 'run', 'x'), 'x');
    assert.is(mountsUnder(build).length, 2);
    const r = safeRemove(build);
    assert.ok(r.removed, r.problem);
    assert.not.ok(existsSync(build));
    assert.is(readFileSync(join(host, 'precious'), 'utf8'), 'keep me', 'the bind-mounted source is intact');
    assert.equal(mountsUnder(base), []);
  } finally {
    for (const m of mountsUnder(base)) spawnSync('umount', ['-l', m]);
    rmSync(base, { recursive: true, force: true });
  }
});

test('safeRemove of a missing path is fine', () => {
  assert.equal(safeRemove(join(tmpdir(), 'does-not-exist-' + process.pid)), { removed: true });
});

test.run();
