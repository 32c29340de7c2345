/**
 * Golden files: the compiled YAML of every appliance x architecture equals the committed file
 * test/golden/<name>-<arch>.yaml (and the amd64 layers, test/golden/layers/). After an intended
 * change, update them with `UPDATE_GOLDEN=1 npm test -- golden` and review the diff. What they
 * hold is defined once, in lib/compile/golden.ts (`new` registers a scaffold's with it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../../lib/files.ts';
import { goldenDir, goldenFiles } from '../../lib/compile/golden.ts';
import { loadAppliances } from '../../lib/compile/load.ts';
import { ROOT } from '../helpers.ts';

const GOLDEN = goldenDir(ROOT);
const apps = await loadAppliances(join(ROOT, 'appliances'));
const expected = new Set<string>();

for (const app of apps) {
  for (const g of goldenFiles(app)) {
    expected.add(g.file);
    test(`golden ${g.what}`, () => {
      const path = join(GOLDEN, g.file);
      if (process.env.UPDATE_GOLDEN === '1') writeFileAtomicSync(path, g.text);
      assert.ok(existsSync(path), `missing ${path}: run UPDATE_GOLDEN=1 npm test -- golden`);
      assert.fixture(g.text, readFileSync(path, 'utf8'));
    });
  }
}

test('no stale golden files', () => {
  const layerFiles = existsSync(join(GOLDEN, 'layers')) ? readdirSync(join(GOLDEN, 'layers')).map((f) => `layers/${f}`) : [];
  const stale = [...readdirSync(GOLDEN), ...layerFiles].filter((f) => f.endsWith('.yaml') && !expected.has(f));
  assert.equal(stale, [], `golden files without a target: ${stale.join(', ')} (an appliance scaffolded by \`new\` and deleted by hand? \`npx tsx build.ts new --remove NAME\` removes its files)`);
});

test.run();
