/**
 * Golden files: the compiled YAML of every appliance x architecture equals the committed file
 * test/golden/<name>-<arch>.yaml. After an intended change, update them with
 * `UPDATE_GOLDEN=1 npm test -- golden` and review the diff.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../lib/compile.ts';
import { toYaml } from '../../lib/yaml.ts';
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

// The layers the build graph runs (amd64; arm64 differs in the architecture only).
for (const app of apps) {
  const c = compile(app, 'amd64', ctx);
  for (const layer of ['base', 'packages', 'image'] as const) {
    const def = c.layers[layer];
    if (!def) continue;
    const file = `${app.name}-amd64.${layer}.yaml`;
    expected.add(`layers/${file}`);
    test(`golden ${app.name}:amd64 ${layer} layer`, () => {
      const yaml = toYaml(def);
      const path = join(GOLDEN, 'layers', file);
      if (process.env.UPDATE_GOLDEN === '1') {
        mkdirSync(join(GOLDEN, 'layers'), { recursive: true });
        writeFileSync(path, yaml);
      }
      assert.ok(existsSync(path), `missing ${path}: run UPDATE_GOLDEN=1 npm test -- golden`);
      assert.fixture(yaml, readFileSync(path, 'utf8'));
    });
  }
}

test('no stale golden files', () => {
  const layerFiles = existsSync(join(GOLDEN, 'layers')) ? readdirSync(join(GOLDEN, 'layers')).map((f) => `layers/${f}`) : [];
  const stale = [...readdirSync(GOLDEN), ...layerFiles].filter((f) => f.endsWith('.yaml') && !expected.has(f));
  assert.equal(stale, [], `golden files without a target: ${stale.join(', ')}`);
});

test.run();
