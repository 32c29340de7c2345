/**
 * Inputs (lib/graph/inputs.ts): an installed package's file is named by its package specifier
 * and found through Node's resolver, so the record holds no path of the checkout; records that
 * named the old path read back under the new name.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile } from '../../lib/graph/hash.ts';
import { InputCache, PACKAGE_INPUT } from '../../lib/graph/inputs.ts';
import { projectPaths } from '../../lib/graph/paths.ts';
import { readRecords, RECORD_FORMAT } from '../../lib/graph/record.ts';

const yamlPackage = realpathSync(createRequire(import.meta.url).resolve('yaml/package.json'));

test('a package input resolves through Node from any project root (no node_modules there), under its specifier', async () => {
  const root = mkdtempSync(join(tmpdir(), 'inputs-'));
  try {
    const fp = await new InputCache(root).fingerprints([{ rel: `${PACKAGE_INPUT}yaml/package.json`, kind: 'tool' }]);
    assert.equal(Object.keys(fp), ['package:yaml/package.json']);
    const st = statSync(yamlPackage);
    assert.is(fp['package:yaml/package.json'].ino, st.ino);
    assert.is(fp['package:yaml/package.json'].hash, await hashFile(yamlPackage));
    assert.is(JSON.parse(readFileSync(yamlPackage, 'utf8')).name, 'yaml');
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('a package that does not resolve is a missing input (left out), not an error', async () => {
  const fp = await new InputCache(tmpdir()).fingerprints([{ rel: `${PACKAGE_INPUT}no-such-package-xyz/package.json`, kind: 'tool' }]);
  assert.equal(fp, {});
});

test('a record naming node_modules/yaml/package.json reads back as package:yaml/package.json, same stat', () => {
  const root = mkdtempSync(join(tmpdir(), 'inputs-'));
  try {
    const p = projectPaths(root);
    mkdirSync(p.records, { recursive: true });
    const input = { kind: 'tool', size: 1, mtimeMs: 2, ino: 3, hash: 'abc' };
    const rec = {
      format: RECORD_FORMAT, target: 'nginx:amd64', name: 'nginx', arch: 'amd64', hash: 'h', builder: 2, distrobuilder: '3.2', builtAt: 'now',
      inputs: { 'node_modules/yaml/package.json': input, 'appliances/nginx/appliance.ts': { ...input, kind: 'module' } },
      outputs: {}, options: {}, context: {}, appliance: { name: 'nginx', version: '1', architectures: ['amd64'], base: {} },
    };
    writeFileSync(join(p.records, 'nginx-amd64.json'), JSON.stringify(rec));
    const got = readRecords(p).records.get('nginx:amd64');
    assert.ok(got, 'record read');
    assert.equal(Object.keys(got.inputs).sort(), ['appliances/nginx/appliance.ts', 'package:yaml/package.json']);
    assert.equal(got.inputs['package:yaml/package.json'], input);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test.run();
