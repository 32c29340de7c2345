/**
 * The compiled YAML of nginx (amd64 and arm64) passes the real `distrobuilder validate`.
 * Required in CI (CI=true); a clear skip elsewhere when distrobuilder is not installed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { compile } from '../../lib/compile/compile.ts';
import { loadAppliances } from '../../lib/compile/load.ts';
import { distrobuilderValidate, distrobuilderVersion } from '../../lib/validate/distrobuilder.ts';
import { ROOT, TEST_MIRROR } from '../helpers.ts';

const version = await distrobuilderVersion();
const required = process.env.CI === 'true';
const apps = await loadAppliances(join(ROOT, 'appliances'));

if (!version && !required) {
  console.log('distrobuilder is not installed: `distrobuilder validate` tests skipped (run `sudo bash lib/host/setup.sh`)');
  test.skip('distrobuilder validate of every target');
} else {
  test('distrobuilder is installed', () => assert.ok(version, 'distrobuilder is required in CI'));
  for (const app of apps) {
    for (const arch of app.architectures) {
      test(`distrobuilder validate ${app.name}:${arch}`, async () => {
        const err = await distrobuilderValidate(compile(app, arch, { debianMirror: TEST_MIRROR, alpineMirror: 'https://alpine-mirror.example/alpine' }).yaml);
        assert.is(err, undefined, err);
      });
    }
  }
  test('distrobuilder validate rejects an unknown key (the oracle works)', async () => {
    const yaml = compile(apps[0], apps[0].architectures[0], { debianMirror: TEST_MIRROR, alpineMirror: '' }).yaml + 'colour: blue\n';
    assert.ok(await distrobuilderValidate(yaml));
  });
}

test.run();
