/** No tracked file names a package mirror host: mirrors come from the host's apt configuration. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.ts';

const MIRROR = /\b(?:deb|ftp(?:\.[a-z]{2})?|security|httpredir|cdn-fastly|snapshot)\.debian\.org|\bdl-cdn\.alpinelinux\.org|\b(?:mirror|mirrors)\.(?!example\b|test\b|invalid\b)[a-z0-9-]+\.[a-z]{2,}/i;

test('no tracked file names a mirror host', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  assert.ok(files.length > 10);
  const hits = files.filter((f) => !f.startsWith('package-lock')).flatMap((f) => {
    let text = '';
    try { text = readFileSync(join(ROOT, f), 'utf8'); } catch { return []; }
    const m = text.match(MIRROR);
    return m ? [`${f}: ${m[0]}`] : [];
  });
  assert.equal(hits, []);
});

test('the pattern catches real mirror names (self-check)', () => {
  // Built from parts so that this file itself names no mirror host.
  const hosts = [['deb', 'debian', 'org'], ['dl-cdn', 'alpinelinux', 'org'], ['mirrors', 'kernel', 'org']].map((p) => `http://${p.join('.')}/x`);
  for (const s of hosts) assert.match(s, MIRROR);
  for (const s of ['http://mirror.example/debian', 'https://alpine-mirror.invalid/alpine']) assert.not.match(s, MIRROR);
});

test.run();
