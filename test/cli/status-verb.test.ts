/**
 * `status <instance>` against a fake incus client (test/fixtures/fake-incus-status): it prints
 * the in-image `appliance status` and exits with its code; a missing or stopped instance is a
 * clear one-line error (InstanceNotFoundError / UserError), never a stack trace.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { ROOT, runBuildTs } from '../helpers.ts';

const env = { ...process.env, NO_COLOR: '1', PATH: `${join(ROOT, 'test/fixtures/fake-incus-status')}:${process.env.PATH}` };

test('status prints appliance status and exits 1 when the appliance is not healthy', async () => {
  const r = await runBuildTs(['status', 'db'], { env });
  assert.is(r.code, 1, r.all);
  assert.match(r.stdout, /user\.postgres\.database\s+my db;x\s+INVALID: an SQL name/);
  assert.match(r.stdout, /health: FAIL/);
});

test('a missing instance: one line naming it, exit 1, no stack trace', async () => {
  const r = await runBuildTs(['status', 'nope'], { env });
  assert.is(r.code, 1);
  assert.match(r.stderr, /^error: status: no instance "nope"; `incus list` shows the instances$/m);
  assert.not.match(r.all, /\n\s+at /);
});

test('a stopped instance: says so and how to start it', async () => {
  const r = await runBuildTs(['status', 'off'], { env });
  assert.is(r.code, 1);
  assert.match(r.stderr, /instance "off" is stopped; start it \(`incus start off`\)/);
});

test.run();
