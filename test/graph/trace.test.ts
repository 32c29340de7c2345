/**
 * What a no-op build loads: no ts-morph or TypeScript compiler, no appliance module, none of the
 * build stage's heavy modules (runner with execa, esbuild, p-queue, xxhash-wasm, registry glue).
 * The module trace comes from loader hooks (test/graph/trace/).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { project, type Project } from './project.ts';

let p: Project;

test.before(async () => {
  p = project();
  const r = await p.run([]); // indexed too: the runs below have nothing to do
  assert.is(r.code, 0, r.all);
});
test.after(() => p.cleanup());

async function trace(args: string[]): Promise<string[]> {
  const file = join(p.dir, 'import-trace.txt');
  rmSync(file, { force: true });
  const r = await execa(process.execPath, ['--import', 'tsx', '--import', join(import.meta.dirname, 'trace', 'register.mjs'), join(p.dir, 'build.ts'), ...args], {
    cwd: p.dir, env: { ...p.env, IMPORT_TRACE: file }, reject: false, all: true,
  });
  assert.is(r.exitCode, 0, String(r.all));
  return [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
}

for (const args of [['--dry-run'], ['nginx:amd64', '--no-index'], []]) {
  test(`a no-op \`build.ts ${args.join(' ')}\` loads no ts-morph, no appliance, nothing heavy of the build stage`, async () => {
    const urls = await trace(args);
    assert.ok(urls.some((u) => u.endsWith('/lib/graph/plan.ts')), 'the trace works');
    const bad = (re: RegExp) => urls.filter((u) => re.test(u));
    assert.equal(bad(/ts-morph|node_modules\/typescript\//), [], 'ts-morph / typescript');
    assert.equal(bad(/\/appliances\//), [], 'appliance modules');
    assert.equal(bad(/\/lib\/graph\/(schedule|tree-node|image-node|distrobuilder|reindex|key)\.ts$/), [], 'node builders, keys, registry glue');
    assert.equal(bad(/\/lib\/(compile|yaml)\.ts$/), [], 'the compiler');
    assert.equal(bad(/node_modules\/(esbuild|p-queue|xxhash-wasm|yaml|execa)\//), [], 'esbuild, p-queue, xxhash-wasm, yaml, execa');
  });
}

test.run();
