/**
 * Golden files: the compiled YAML of every appliance x architecture equals the committed file
 * test/golden/<name>-<arch>.yaml. After an intended change, update them with
 * `UPDATE_GOLDEN=1 npm test -- golden` and review the diff.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../lib/compile.ts';
import { loadAppliances } from '../../lib/load.ts';
import { ROOT, TEST_MIRROR } from '../helpers.ts';

const GOLDEN = join(ROOT, 'test', 'golden');
const ctx = { debianMirror: TEST_MIRROR, alpineMirror: 'https://alpine-mirror.example/alpine' };
const apps = await loadAppliances(join(ROOT, 'appliances'));
const expected = new Set<string>();

for (const app of apps) {
  for (const arch of app.architectures) {
    const file = `${app.name}-${arch}.yaml`;
    expected.add(file);
    test(`golden ${app.name}:${arch}`, () => {
      const { yaml } = compile(app, arch, ctx);
      const path = join(GOLDEN, file);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, yaml);
      assert.ok(existsSync(path), `missing ${path}: run UPDATE_GOLDEN=1 npm test -- golden`);
      assert.fixture(yaml, readFileSync(path, 'utf8'));
    });
  }
}

test('no stale golden files', () => {
  const stale = readdirSync(GOLDEN).filter((f) => f.endsWith('.yaml') && !expected.has(f));
  assert.equal(stale, [], `golden files without a target: ${stale.join(', ')}`);
});

test.run();
