/**
 * Each appliance README: its generated parts (launch example, settings, ports, volumes, health
 * and test checks) equal what appliance.ts declares, and it covers what users need (profile,
 * persistent data, snapshot/backup/restore, `incus rebuild`, measured size, the Alpine variant).
 * After changing an appliance, refresh with `UPDATE_README=1 npm test -- appliances`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAppliances } from '../../lib/load.ts';
import { GENERATED_KINDS, refreshReadme } from '../../appliances/_shared/readme.ts';
import { ROOT } from '../helpers.ts';

const apps = await loadAppliances(join(ROOT, 'appliances'));
const catalogue = readFileSync(join(ROOT, 'docs', 'appliances.md'), 'utf8');

for (const app of apps) {
  const path = join(app.dir, 'README.md');

  test(`${app.name}: README.md generated parts are up to date`, () => {
    assert.ok(existsSync(path), `missing ${path}`);
    const text = readFileSync(path, 'utf8');
    const { text: fresh, found } = refreshReadme(text, app);
    assert.equal(found, [...GENERATED_KINDS], 'README marks every generated part');
    if (process.env.UPDATE_README === '1' && fresh !== text) writeFileSync(path, fresh);
    else assert.fixture(text, fresh, 'stale README: run UPDATE_README=1 npm test -- appliances');
  });

  test(`${app.name}: README.md covers profile, data, backup, upgrade, size and bases`, () => {
    const text = readFileSync(path, 'utf8');
    for (const needle of [
      `npx tsx build.ts profile ${app.name}`, 'incus profile create', 'incus storage volume create',
      'incus snapshot create', 'incus export', 'incus storage volume snapshot create', 'incus rebuild appliance:' + app.name,
      'Alpine', 'not built on our CI', '## How it was tested', '## Size',
    ]) assert.ok(text.includes(needle), `README of ${app.name} mentions "${needle}"`);
    assert.match(text, /\*\*\d+(\.\d+)? MiB\*\*|Not measured: /, 'the measured image size, or why it was not measured');
  });

  test(`${app.name}: listed in docs/appliances.md`, () => {
    assert.match(catalogue, new RegExp(`\\| \\[${app.name}\\]\\(\\.\\./appliances/${app.name}/README\\.md\\)`));
  });
}

test.run();
