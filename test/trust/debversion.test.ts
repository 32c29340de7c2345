/** Debian version comparison: a table of hard cases, each cross-checked against `dpkg --compare-versions`. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { compareDebVersions, parseDebVersion } from '../../lib/trust/debversion.ts';
import { withTools } from '../registry/fake-images.ts';

/** [a, b, expected sign of compare(a, b)]. */
const TABLE: Array<[string, string, -1 | 0 | 1]> = [
  ['1.0', '1.0', 0],
  ['1.0', '1.1', -1],
  ['1.10', '1.9', 1], // numbers, not strings
  ['1.0~rc1', '1.0', -1], // tilde sorts before the end
  ['1.0~rc1', '1.0~rc2', -1],
  ['1.0~~', '1.0~', -1],
  ['1.0~', '1.0', -1],
  ['1.0', '1.0+b1', -1], // binNMU of the same version is newer
  ['1.2-3', '1.2-3+b1', -1],
  ['1.2-3+b1', '1.2-4', -1],
  ['1.2-3+deb13u1', '1.2-3+b2', 1], // 'd' > 'b'
  ['1:2.0', '2.5', 1], // epoch wins
  ['2.5', '1:0.1', -1],
  ['0:1.0', '1.0', 0], // epoch 0 is no epoch
  ['1.0-1', '1.0-1.1', -1],
  ['1.0a', '1.0', 1], // a letter after the end
  ['1.0a', '1.0+', -1], // letters before symbols
  ['1.0+', '1.0.', -1], // symbols by character code: '+' (43) before '.' (46)
  ['001.0', '1.0', 0], // leading zeros
  ['1.0-0', '1.0', 0], // empty revision equals "0"
  ['2.41-12', '2.41-12+deb13u1', -1],
  ['3.0.17-1~deb13u2', '3.0.17-1', -1],
  ['1.26.3-3+deb13u1', '1.26.3-3', 1],
  ['7:4.4.2-1', '4.4.2-1', 1],
  ['1.2.3-1ubuntu1', '1.2.3-1', 1],
  ['10', '9', 1],
  ['1.0-1~bpo12+1', '1.0-1', -1],
  ['2.0~beta', '2.0~alpha', 1],
];

test('the table: every case gives the expected order, both ways round', () => {
  for (const [a, b, want] of TABLE) {
    assert.is(Math.sign(compareDebVersions(a, b)), want, `${a} vs ${b}`);
    assert.is(Math.sign(compareDebVersions(b, a)), -want || 0, `${b} vs ${a}`);
  }
});

test('parse: epoch, upstream, revision; a hyphen in upstream belongs to it', () => {
  assert.equal(parseDebVersion('1:2.0-3'), { epoch: 1, upstream: '2.0', revision: '3' });
  assert.equal(parseDebVersion('2.0-beta-3'), { epoch: 0, upstream: '2.0-beta', revision: '3' });
  assert.equal(parseDebVersion('2.0'), { epoch: 0, upstream: '2.0', revision: '' });
});

test('bad versions are errors naming the version', () => {
  assert.throws(() => compareDebVersions('x:1.0', '1.0'), /"x:1\.0" is not a Debian version \(epoch/);
  assert.throws(() => compareDebVersions('1.0-', '1.0'), /empty revision/);
  assert.throws(() => compareDebVersions('1.0 2', '1.0'), /white space/);
  assert.throws(() => compareDebVersions('', '1.0'), /no upstream version/);
});

(await withTools(test, { cmd: 'dpkg', why: 'the oracle of Debian version order' }))('cross-check: dpkg --compare-versions agrees on every case of the table', async () => {
  for (const [a, b] of TABLE) {
    const dpkg = (op: string) => {
      try {
        execFileSync('dpkg', ['--compare-versions', a, op, b], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    const got = Math.sign(compareDebVersions(a, b));
    const oracle = dpkg('lt') ? -1 : dpkg('gt') ? 1 : 0;
    assert.is(got, oracle, `${a} vs ${b}: dpkg says ${oracle}`);
  }
});

test.run();
