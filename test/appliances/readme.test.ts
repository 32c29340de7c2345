/**
 * Each appliance README and its catalogue row follow the rules of
 * appliances/_shared/readme-rules.ts (documented in docs/creating-appliances.md): the generated
 * parts (launch example, settings, ports, volumes, health and test checks) equal what
 * appliance.ts declares, the README covers what users need (profile, persistent data,
 * snapshot/backup/restore, `incus rebuild`, measured size, bases), and docs/appliances.md lists
 * it. Every broken rule of an appliance is reported in one failure.
 * After changing an appliance, refresh the generated parts with
 * `UPDATE_README=1 npm test -- appliances/readme`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAppliances } from '../../lib/compile/load.ts';
import { writeFileAtomicSync } from '../../lib/files.ts';
import { GENERATED_KINDS, refreshReadme } from '../../appliances/_shared/readme.ts';
import { readmeProblems, requiredPhrases } from '../../appliances/_shared/readme-rules.ts';
import { ROOT } from '../helpers.ts';

const apps = await loadAppliances(join(ROOT, 'appliances'));
const catalogue = readFileSync(join(ROOT, 'docs', 'appliances.md'), 'utf8');

for (const app of apps) {
  const path = join(app.dir, 'README.md');

  test(`${app.name}: README.md and its catalogue row follow every rule`, () => {
    let text = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (text !== undefined && process.env.UPDATE_README === '1') {
      const fresh = refreshReadme(text, app).text;
      if (fresh !== text) writeFileAtomicSync(path, (text = fresh));
    }
    const problems = readmeProblems(app, text, catalogue);
    assert.ok(problems.length === 0, `${problems.length} problem(s):\n${problems.join('\n')}`);
  });
}

// The check itself: a README missing several things gets every one reported at once.
const nginx = apps.find((a) => a.name === 'nginx');
if (nginx) {
  // Read when the tests run: an UPDATE_README run rewrites it first.
  let good = '';
  test.before.each(() => { good = readFileSync(join(nginx.dir, 'README.md'), 'utf8'); });

  test('readmeProblems: reports every missing phrase, section, size and row at once', () => {
    const phrases = requiredPhrases('nginx').map((r) => r.phrase);
    let bad = good.replace(/<!-- \/?generated:ports -->\n/g, '').replace(/\*\*\d+(\.\d+)? MiB\*\*/g, '24.8 MiB');
    for (const p of phrases) bad = bad.split(p).join('');
    const problems = readmeProblems(nginx, bad, '| [redis](../appliances/redis/README.md) | x |');
    assert.is(problems.filter((p) => /does not contain "/.test(p)).length, phrases.length, problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('no generated ports section')), 'the missing markers');
    assert.ok(problems.some((p) => p.includes('no measured image size')), 'the size');
    assert.ok(problems.some((p) => p.startsWith('docs/appliances.md: no catalogue row for nginx')), 'the row');
    // Removing "incus storage volume create" also changed the generated volumes part.
    assert.ok(problems.some((p) => p.includes('generated section(s) volumes differ')), 'the stale part');
    assert.is(problems.length, phrases.length + 4, problems.join('\n'));
  });

  test('readmeProblems: a stale generated section is named; the nginx README passes as is', () => {
    assert.equal(readmeProblems(nginx, good, catalogue), []);
    const stale = good.replace('| 80 | tcp | HTTP |', '| 8080 | tcp | HTTP |');
    assert.not.equal(stale, good);
    const problems = readmeProblems(nginx, stale, catalogue);
    assert.equal(problems, [`appliances/nginx/README.md: generated section(s) ports differ from appliance.ts: run \`UPDATE_README=1 npm test -- appliances/readme\``]);
  });

  test('readmeProblems: a missing README is one problem, and the row is still checked', () => {
    assert.equal(readmeProblems(nginx, undefined, ''), [
      'appliances/nginx/README.md: missing (`npx tsx build.ts new` writes one with every required part)',
      'docs/appliances.md: no catalogue row for nginx: add a table line starting with | [nginx](../appliances/nginx/README.md) |',
    ]);
  });

  test('every generated kind is checked', () => {
    for (const kind of GENERATED_KINDS) {
      const bad = good.replace(`<!-- generated:${kind} -->`, '');
      assert.ok(readmeProblems(nginx, bad, catalogue).some((p) => p.includes(`no generated ${kind} section`)), kind);
    }
  });
}

test.run();
