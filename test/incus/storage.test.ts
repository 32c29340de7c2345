/**
 * The default pool's driver and what `doctor` says about it (lib/incus/storage.ts): a clone on
 * btrfs, a warning (exit 0) on `dir`, which unpacks every launch. `doctor` runs against a fake
 * `incus` first on PATH that answers the two queries with the driver given in FAKE_DRIVER.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { poolAdvice } from '../../lib/incus/storage.ts';
import { runBuildTs, testEnv } from '../helpers.ts';

test('copy-on-write drivers: a clone, no warning', () => {
  for (const driver of ['btrfs', 'zfs', 'lvm']) {
    const a = poolAdvice({ pool: 'default', driver });
    assert.match(a.status, new RegExp(`pool "default" \\(${driver}\\): each launch clones`));
    assert.is(a.warning, undefined);
  }
});

test('dir: unpacks every launch, a warning with the way out', () => {
  const a = poolAdvice({ pool: 'default', driver: 'dir' });
  assert.match(a.status, /\(dir\): each launch unpacks the whole image/);
  assert.match(a.warning!, /incus storage create fast btrfs size=30GiB && incus profile device set default root pool=fast/);
});

const bin = mkdtempSync(join(tmpdir(), 'fake-incus-pool-'));
writeFileSync(join(bin, 'incus'), `#!/bin/sh
case "$1 $2" in
  "version "*) echo "Client version: 6.0.0" ;;
  "info "*) echo "config: {}" ;;
  "query /1.0/profiles/default") echo '{"devices":{"root":{"type":"disk","path":"/","pool":"tank"},"eth0":{"type":"nic"}}}' ;;
  "query /1.0/storage-pools/tank") echo "{\\"driver\\":\\"$FAKE_DRIVER\\"}" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`);
chmodSync(join(bin, 'incus'), 0o755);
const doctor = (driver: string) => runBuildTs(['doctor'], { env: testEnv({ PATH: `${bin}:${process.env.PATH}`, FAKE_DRIVER: driver }) });

test('doctor names the pool and its driver; on dir it warns and still exits 0', async () => {
  const dir = await doctor('dir');
  assert.is(dir.code, 0, dir.all);
  assert.match(dir.stdout, /\nStorage: the default profile's root disk is on pool "tank" \(dir\): each launch unpacks the whole image\n {2}warning: a dir pool unpacks/);
  const btrfs = await doctor('btrfs');
  assert.is(btrfs.code, 0, btrfs.all);
  assert.match(btrfs.stdout, /\nStorage: .* pool "tank" \(btrfs\): each launch clones the image volume/);
  assert.not.match(btrfs.stdout, /warning: a dir pool/);
});

test.after(() => rmSync(bin, { recursive: true, force: true }));
test.run();
