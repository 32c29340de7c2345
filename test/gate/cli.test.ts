/**
 * CLI misuse: every verb refuses positional arguments it does not take (with its usage line)
 * and deletes, serves or publishes nothing; `serve --registry` and `publish` refuse a path that
 * is not a registry folder. In-process runs against a scratch project holding a sentinel
 * `.cache/` and `registry/`, checked untouched after each case.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, scratchProject, testEnv } from '../helpers.ts';

let dir: string;
let cleanup: () => void;
const SENTINELS = ['.cache/records/sentinel.json', '.cache/out/tiny:amd64/rootfs.squashfs', 'registry/streams/v1/index.json', 'registry/images/sentinel'];

test.before(() => {
  ({ dir, cleanup } = scratchProject());
  for (const s of SENTINELS) {
    mkdirSync(join(dir, s, '..'), { recursive: true });
    writeFileSync(join(dir, s), 'keep\n');
  }
  mkdirSync(join(dir, 'not-a-registry'));
  writeFileSync(join(dir, 'not-a-registry', 'index.php'), '<?php\n');
  writeFileSync(join(dir, 'README.md'), '# readme\n');
});
test.after(() => cleanup());

function assertUntouched(what: string): void {
  for (const s of SENTINELS) assert.ok(existsSync(join(dir, s)), `${what}: ${s} was removed`);
  assert.equal(readdirSync(join(dir, 'not-a-registry')), ['index.php'], `${what}: the foreign folder changed`);
  assert.is(readFileSync(join(dir, 'README.md'), 'utf8'), '# readme\n', `${what}: README.md changed`);
}

const run = (argv: string[]) => runCli(argv, { root: dir, env: testEnv() });

/** argv, then the expected message after `error: <verb>: `. */
const MISUSE: Array<[string[], RegExp]> = [
  [['clean-all', 'tiny'], /takes no arguments \(got "tiny"\)/],
  [['clean-all', 'nginx:amd64', '--no-wait'], /takes no arguments \(got "nginx:amd64"\)/],
  [['prune', 'nginx'], /takes no arguments \(got "nginx"\)/],
  [['list', 'nginx'], /takes no arguments/],
  [['verify', 'registry', 'https://x.invalid'], /takes at most 1 argument \(got 2/],
  [['sbom'], /needs one argument/],
  [['keygen', 'now'], /takes no arguments/],
  [['sign', 'registry'], /takes no arguments/],
  [['serve', '8443'], /takes no arguments \(got "8443"\)/],
  [['setup', 'now'], /takes no arguments/],
  [['doctor', 'all'], /takes no arguments/],
  [['registry-list', 'nginx'], /takes no arguments/],
  [['help', 'build', 'serve'], /takes at most 1 argument \(got 2: "build" "serve"\)/],
  [['publish'], /needs one argument/],
  [['publish', '/tmp/a', '/tmp/b'], /takes at most 1 argument \(got 2/],
  [['profile'], /needs one argument/],
  [['compile'], /needs at least 1 argument/],
];

for (const [argv, message] of MISUSE) {
  test(`\`${argv.join(' ')}\`: refused with the usage line, nothing touched`, async () => {
    const r = await run(argv);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: ${argv[0]}: ${message.source}`, 'm'));
    assert.match(r.stderr, new RegExp(`\\n  usage: npx tsx build\\.ts ${argv[0]}\\b`));
    assert.is(r.stdout, '');
    assertUntouched(argv.join(' '));
  });
}

const NOT_REGISTRY: Array<[string[], RegExp]> = [
  [['serve', '--registry', 'README.md', '--port', '0'], /README\.md: not a registry folder \(it is not a folder\)/],
  [['serve', '--registry', 'not-a-registry', '--port', '0'], /not-a-registry: not a registry folder \(no streams\/v1\/ or images\/ in it; it holds index\.php\)/],
  [['publish', '--registry', 'README.md', 'published'], /publish: .*README\.md: not a registry folder \(it is not a folder\)/],
  [['publish', 'not-a-registry'], /publish: .*not-a-registry: not a registry folder/],
  [['publish', 'README.md'], /publish: .*README\.md: not a registry folder \(it is not a folder\)/],
  [['verify', 'not-a-registry'], /not-a-registry: not a registry folder/],
  [['sign', '--registry', 'not-a-registry'], /not-a-registry: not a registry folder/],
];

for (const [argv, message] of NOT_REGISTRY) {
  test(`\`${argv.join(' ')}\`: not a registry folder`, async () => {
    const prev = process.cwd();
    process.chdir(dir); // relative paths as a user types them
    try {
      const r = await run(argv);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(join(dir, 'published')), 'nothing published');
      assertUntouched(argv.join(' '));
    } finally {
      process.chdir(prev);
    }
  });
}

test.run();
