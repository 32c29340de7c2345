/**
 * lib/host/setup.sh's storage choice: a bad APPLIANCE_STORAGE or APPLIANCE_STORAGE_SIZE is
 * refused, naming the variable, before anything is installed or changed (the checks run first,
 * so this runs anywhere, root or not). The btrfs pool itself was checked by hand (docs/benchmarks.md).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const SETUP = join(import.meta.dirname, '..', '..', 'lib', 'host', 'setup.sh');
const run = (env: Record<string, string>) =>
  spawnSync('bash', [SETUP], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: 30_000 });

test('APPLIANCE_STORAGE other than auto, dir or btrfs is refused before any step', () => {
  const r = run({ APPLIANCE_STORAGE: 'zfs' });
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), "setup.sh: APPLIANCE_STORAGE must be auto, dir or btrfs, got 'zfs'");
  assert.is(r.stdout, '', 'no step ran');
});

test('APPLIANCE_STORAGE_SIZE must be a size Incus takes (30GiB)', () => {
  const r = run({ APPLIANCE_STORAGE: 'btrfs', APPLIANCE_STORAGE_SIZE: '10G' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /APPLIANCE_STORAGE_SIZE must be a size such as 30GiB, got '10G'/);
  assert.is(r.stdout, '');
});

test('--help documents both variables', () => {
  const r = spawnSync('bash', [SETUP, '--help'], { encoding: 'utf8' });
  assert.is(r.status, 0);
  assert.match(r.stdout, /APPLIANCE_STORAGE +driver of the pool `default`/);
  assert.match(r.stdout, /APPLIANCE_STORAGE_SIZE/);
});

test.run();
