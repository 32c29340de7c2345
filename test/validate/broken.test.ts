/**
 * Twenty-five broken appliance files: each gives a located, readable error (`path:line:col
 * message`) and exit 1, with no stack trace. One scratch project holds them all, so the
 * type checker runs once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBuildTs, scratchProject, testEnv } from '../helpers.ts';

interface Case {
  /** Folder name. */
  dir: string;
  /** appliance.ts body. */
  source: string;
  /** Expected line of the first error in this file (1-based). */
  line: number;
  /** Message substring. */
  message: RegExp;
  files?: Record<string, string>;
}

const head = `import { defineAppliance } from '../../lib/compile/model.ts';\nimport { debian } from '../_base/debian.ts';\n`;
const ok = (name: string, extra = '', omit: string[] = []) => {
  const fields: Record<string, string> = {
    name: `  name: '${name}',`,
    version: `  version: '1.0',`,
    description: `  description: 'test appliance',`,
    base: `  base: debian(),`,
    architectures: `  architectures: ['amd64'],`,
    health: `  health: { command: 'true' },`,
  };
  return `${head}export default defineAppliance({\n${Object.entries(fields).filter(([k]) => !omit.includes(k)).map(([, v]) => v).join('\n')}\n${extra}});\n`;
};
// Line numbers: 1-2 imports, 3 `export default`, 4 name, 5 version, 6 description, 7 base,
// 8 architectures, 9 health, 10 the first `extra` line.
const cases: Case[] = [
  { dir: 'misspelled', source: ok('misspelled', `  pakages: ['nginx'],\n`), line: 10, message: /TS2\d+: .*'pakages'/ },
  { dir: 'bad-arch', source: ok('bad-arch').replace(`['amd64']`, `['amd64', 'riscv64']`), line: 8, message: /riscv64/ },
  { dir: 'no-shebang', source: ok('no-shebang', `  actions: [{ trigger: 'post-files', script: 'echo hi' }],\n`), line: 10, message: /shebang/ },
  { dir: 'missing-file', source: ok('missing-file', `  files: [{ source: 'nope.conf', path: '/etc/nope.conf' }],\n`), line: 10, message: /files\/nope\.conf does not exist/ },
  { dir: 'bad-alias', source: ok('Bad_Alias'), line: 4, message: /not usable as an image alias/ },
  { dir: 'wrong-folder', source: ok('other-name'), line: 4, message: /must equal its folder name "wrong-folder"/ },
  { dir: 'wrong-manager', source: ok('wrong-manager', `  packageManager: 'apk',\n`), line: 10, message: /packageManager: "apk" does not match base debian, which uses apt/ },
  { dir: 'dup-a', source: ok('dup'), line: 4, message: /name: "dup" is also declared by appliances\/dup\/appliance\.ts/ },
  { dir: 'no-health', source: ok('no-health', '', ['health']), line: 3, message: /health/ },
  // A chained TypeScript message (the argument's type, then the missing property) is printed whole.
  { dir: 'no-health-typed', source: ok('no-health-typed', '', ['health']), line: 3, message: /TS2345: Argument of type .* Property 'health' is missing/ },
  { dir: 'syntax-error', source: `${head}export default defineAppliance({ name: 'syntax-error', \n`, line: 4, message: /syntax error: Expected identifier but found end of file/ },
  { dir: 'no-default', source: `${head}export const x = 1;\n`, line: 1, message: /no default export/ },
  { dir: 'secret-default', source: ok('secret-default', `  settings: { password: { description: 'pw', secret: true, default: 'hunter2' } },\n  configure: 'configure.sh',\n`), line: 10, message: /secret must not have a default/, files: { 'configure.sh': '#!/bin/sh\n' } },
  { dir: 'no-configure', source: ok('no-configure', `  settings: { port: { description: 'port', default: '80' } },\n`), line: 3, message: /configure: required when settings are declared/ },
  { dir: 'bad-mode', source: ok('bad-mode', `  files: [{ source: 'a.conf', path: '/etc/a.conf', mode: '644x' }],\n`), line: 10, message: /is not an octal mode/, files: { 'a.conf': 'a\n' } },
  { dir: 'bad-port', source: ok('bad-port', `  ports: [{ port: 70000, description: 'x' }],\n`), line: 10, message: /port: must be an integer 1-65535/ },
  { dir: 'relative-path', source: ok('relative-path', `  files: [{ source: 'a.conf', path: 'etc/a.conf' }],\n`), line: 10, message: /must be an absolute path/, files: { 'a.conf': 'a\n' } },
  { dir: 'bad-version', source: ok('bad-version').replace(`'1.0'`, `'1.0/beta,2'`), line: 5, message: /version: .* not usable in the alias/ },
  { dir: 'raw-unknown', source: ok('raw-unknown', `  raw: { image: { colour: 'blue' } } as never,\n`), line: 10, message: /unknown distrobuilder key "image\.colour"/ },
  { dir: 'no-arch', source: ok('no-arch').replace(`['amd64']`, `[]`), line: 8, message: /architectures: required non-empty list/ },
  { dir: 'throws', source: `${head}throw new Error('boom at import');\n`, line: 3, message: /cannot load module: boom at import/ },
  { dir: 'bad-package', source: ok('bad-package', `  packages: ['Nginx Light'],\n`), line: 10, message: /"Nginx Light" is not a valid apt package name/ },
  // The wait for the network costs every launch ~1 s of DHCP: it takes a reason, not a flag.
  { dir: 'network-flag', source: ok('network-flag', `  waitForNetwork: true,\n`), line: 10, message: /TS2322: Type 'boolean' is not assignable to type 'string'/ },
  { dir: 'network-no-reason', source: ok('network-no-reason', `  waitForNetwork: ' ',\n`), line: 10, message: /waitForNetwork: must be a sentence saying why a service needs the network to start/ },
  { dir: 'bad-timeout', source: ok('bad-timeout').replace(`{ command: 'true' }`, `{ command: 'true', timeout: -5 }`), line: 9, message: /health\.timeout: must be a positive number/ },
];

const { dir: project, cleanup } = scratchProject();
const appliances = join(project, 'appliances');
for (const c of cases) {
  mkdirSync(join(appliances, c.dir, 'files'), { recursive: true });
  writeFileSync(join(appliances, c.dir, 'appliance.ts'), c.source);
  for (const [name, content] of Object.entries(c.files ?? {})) writeFileSync(join(appliances, c.dir, 'files', name), content);
}
// The second half of the duplicate pair: another folder declaring the same name.
cpSync(join(appliances, 'dup-a'), join(appliances, 'dup'), { recursive: true });

const names = [...cases.map((c) => c.dir), 'dup'];
const result = await runBuildTs(['validate', ...names, '--no-distrobuilder'], { cwd: project, env: testEnv() });

test('validate exits 1 and prints no stack trace', () => {
  assert.is(result.code, 1, result.all);
  assert.not.match(result.all, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack frames');
  assert.match(result.stderr, /error: validation failed/);
  assert.not.match(result.stderr, /TS\d+: undefined/, 'a TypeScript message lost');
});

for (const c of cases) {
  test(`${c.dir}: located error`, () => {
    const lines = result.stderr.split('\n').filter((l) => l.startsWith(`appliances/${c.dir}/appliance.ts:`));
    assert.ok(lines.length > 0, `no diagnostic for ${c.dir}:\n${result.stderr}`);
    const hit = lines.find((l) => c.message.test(l));
    assert.ok(hit, `no line matching ${c.message} for ${c.dir}:\n${lines.join('\n')}`);
    const m = hit!.match(/^[^:]+:(\d+):(\d+) /);
    assert.ok(m, `not path:line:col: ${hit}`);
    assert.is(Number(m![1]), c.line, hit);
  });
}

test('duplicate names are reported on both modules', () => {
  assert.match(result.stderr, /appliances\/dup\/appliance\.ts:4:\d+ name: "dup" is also declared by appliances\/dup-a\/appliance\.ts/);
});

test('a valid appliance validates with exit 0', async () => {
  const r = await runBuildTs(['validate', 'nginx', '--no-distrobuilder'], { cwd: project, env: testEnv() });
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /ok: 1 appliance\(s\), 4 target\(s\) compiled: 0 error\(s\)/);
});

test('unknown appliance: clear error listing what exists', async () => {
  const r = await runBuildTs(['validate', 'nope'], { cwd: project, env: testEnv() });
  assert.is(r.code, 1);
  assert.match(r.stderr, /unknown appliance "nope"; appliances: .*nginx/);
});

test.after(cleanup);
test.run();
