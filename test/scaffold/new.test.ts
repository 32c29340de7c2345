/**
 * `new` and `new --remove` in scratch copies of the project (no Incus, no build): the scaffold
 * passes the gate, `validate`, the README rules and its golden files; the command line is
 * checked with every problem named at once and nothing written; a failure half-way leaves
 * nothing; `--remove` restores the project byte for byte and refuses what git tracks.
 * The real build and `test` of a scaffold: test/e2e/new-verb.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadAppliances } from '../../lib/compile/load.ts';
import { goldenFiles } from '../../lib/compile/golden.ts';
import { readmeProblems } from '../../appliances/_shared/readme-rules.ts';
import { withCatalogueRow } from '../../lib/scaffold/create.ts';
import { distrobuilderVersion } from '../../lib/validate/distrobuilder.ts';
import { ROOT, runCli, scratchProject } from '../helpers.ts';

/** A scratch project with the parts `new` writes to: docs/ and test/golden/. */
function project() {
  const s = scratchProject();
  mkdirSync(join(s.dir, 'docs'));
  cpSync(join(ROOT, 'docs', 'appliances.md'), join(s.dir, 'docs', 'appliances.md'));
  cpSync(join(ROOT, 'test', 'golden'), join(s.dir, 'test', 'golden'), { recursive: true });
  return s;
}

/** Every file under `dir` with its bytes (to prove nothing changed). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (n === 'node_modules') continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'latin1'));
    }
  };
  walk(dir);
  return out;
}

function assertSame(before: Map<string, string>, after: Map<string, string>): void {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const changed = [...before.keys()].filter((k) => after.has(k) && after.get(k) !== before.get(k));
  assert.equal({ added, removed, changed }, { added: [], removed: [], changed: [] });
}

const dbVersion = await distrobuilderVersion();

test('new demo: a scaffold that passes the gate, validate, the README rules and its golden files; --remove restores every byte', async () => {
  const s = project();
  try {
    const before = snapshot(s.dir);
    const r = await runCli(['new', 'demo', '--package', 'lighttpd', '--port', '80'], { root: s.dir });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /new demo: created appliances\/demo, test\/golden\/demo-amd64\.yaml/);
    assert.match(r.stdout, /npx tsx build\.ts test demo/);
    const dir = join(s.dir, 'appliances', 'demo');
    assert.is(statSync(join(dir, 'files', 'configure.sh')).mode & 0o777, 0o755);
    assert.not.ok(readdirSync(join(s.dir, 'appliances')).some((n) => n.startsWith('.new-')), 'no temporary folder left');

    const [app] = await loadAppliances(join(s.dir, 'appliances'), ['demo']);
    assert.equal(app.packages, ['lighttpd']);
    assert.equal(app.services, ['lighttpd']);
    assert.equal(app.ports, [{ port: 80, description: 'lighttpd (TCP)' }]);
    assert.match(app.health.command, /systemctl is-active --quiet lighttpd && bash -c ': <\/dev\/tcp\/127\.0\.0\.1\/80'/);
    assert.ok(app.tests!.some((t) => t.command.includes(app.settings!.greeting.example!)), 'a check uses the example value');
    const catalogue = readFileSync(join(s.dir, 'docs', 'appliances.md'), 'utf8');
    assert.equal(readmeProblems(app, readFileSync(join(dir, 'README.md'), 'utf8'), catalogue), []);
    for (const g of goldenFiles(app)) assert.fixture(readFileSync(join(s.dir, 'test', 'golden', g.file), 'utf8'), g.text);
    const added = catalogue.split('\n').filter((l) => !before.get('docs/appliances.md')!.split('\n').includes(l));
    assert.equal(added, ['| [demo](../appliances/demo/README.md) | lighttpd (Debian package) | 80 | `greeting` | not measured yet | |']);

    const v = await runCli(['validate', 'demo', ...(dbVersion ? [] : ['--no-distrobuilder'])], { root: s.dir });
    assert.is(v.code, 0, v.stderr);
    assert.match(v.stdout, /ok: 1 appliance\(s\), 2 target\(s\) compiled: 0 error\(s\), 0 warning\(s\)/);

    const again = await runCli(['new', 'demo', '--package', 'lighttpd', '--port', '80'], { root: s.dir });
    assert.is(again.code, 1);
    assert.match(again.stderr, /appliances\/demo already exists/);
    assert.match(again.stderr, /docs\/appliances\.md: already has a row for demo/);

    const rm = await runCli(['new', '--remove', 'demo'], { root: s.dir });
    assert.is(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removed test\/golden\/layers\/demo-amd64\.image\.yaml/);
    assert.match(rm.stdout, /removed the row of demo from docs\/appliances\.md/);
    assert.match(rm.stdout, /removed appliances\/demo\//);
    assertSame(before, snapshot(s.dir));
    assert.not.ok(existsSync(join(s.dir, '.cache')), 'no .cache/ created');
    assert.not.ok(existsSync(join(s.dir, 'registry')), 'no registry/ created');

    const nothing = await runCli(['new', '--remove', 'demo'], { root: s.dir });
    assert.is(nothing.code, 1);
    assert.match(nothing.stderr, /nothing to remove: no appliance folder, golden file, catalogue row, build output or registry image of demo/);
  } finally {
    s.cleanup();
  }
});

test('new: several packages, --service, a port in hex, odd package characters', async () => {
  const s = project();
  try {
    const r = await runCli(['new', 'odd', '--package', 'foo.bar+baz', '--package', 'foo-tools', '--service', 'foo.service', '--port', '8080'], { root: s.dir });
    assert.is(r.code, 0, r.stderr);
    const [app] = await loadAppliances(join(s.dir, 'appliances'), ['odd']);
    assert.equal(app.packages, ['foo.bar+baz', 'foo-tools']);
    assert.equal(app.services, ['foo']);
    assert.equal(app.volumes, [{ path: '/var/lib/foo.bar+baz', description: "data of foo.bar+baz (the Debian package's state folder)" }]);
    assert.ok(app.tests!.some((t) => t.command.includes(':1F90 ')), 'port 8080 is 1F90 in /proc/net/tcp');
    assert.ok(app.files!.some((f) => f.path === '/etc/systemd/system/foo.service.d/appliance.conf'));
    const readme = readFileSync(join(s.dir, 'appliances', 'odd', 'README.md'), 'utf8');
    assert.match(readme, /new odd --package foo\.bar\+baz --package foo-tools --port 8080 --service foo`/);
    assert.match(readme, /incus storage volume snapshot create default odd-foo-bar-baz nightly/, 'the volume name of the generated part');
    assert.match(readme, /incus storage volume create default odd-foo-bar-baz\n/);
  } finally {
    s.cleanup();
  }
});

const BAD: Array<[string[], RegExp[]]> = [
  [['new', 'demo', '--package', 'Nginx', '--port', '80'], [/--package: "Nginx" is not a Debian package name/]],
  [['new', 'demo', '--package', 'nginx;id', '--port', '80'], [/--package: "nginx;id" is not a Debian package name/]],
  [['new', 'demo', '--package', 'nginx=1.26', '--port', '80'], [/without a version/]],
  [['new', 'demo', '--package', 'x', '--port', '80'], [/--package: "x" is not a Debian package name: .*at least two characters/]],
  [['new', 'demo', '--package', 'g++', '--port', '80'], [/--service: needed: "g\+\+" is not a systemd service name/]],
  [['new', 'demo', '--package', 'nginx', '--port', '0'], [/--port: "0" is not a TCP port: a whole number from 1 to 65535/]],
  [['new', 'demo', '--package', 'nginx', '--port', '65536'], [/--port: "65536" is not a TCP port/]],
  [['new', 'demo', '--package', 'nginx', '--port', '80x'], [/--port: "80x" is not a TCP port/]],
  [['new', 'demo', '--package', 'nginx', '--port', ' 80'], [/--port: " 80" is not a TCP port/]],
  [['new', 'demo', '--package', 'nginx', '--port', '8.0'], [/--port: "8\.0" is not a TCP port/]],
  [['new', 'demo', '--package', 'nginx', '--port', '80', '--service', 'a b'], [/--service: "a b" is not a systemd service name/]],
  [['new', 'demo'], [/new demo: 2 problems:/, /--package: missing/, /--port: missing/]],
  [['new', 'Demo', '--package', 'Nginx', '--port', 'http'], [/new Demo: 3 problems:/, /"Demo" is not usable as an appliance name/, /--package: "Nginx"/, /--port: "http"/]],
  [['new', 'demo-', '--package', 'nginx', '--port', '80'], [/"demo-" is not usable as an appliance name/]],
  [['new', '_base', '--package', 'nginx', '--port', '80'], [/"_base" is not usable as an appliance name/]],
  [['new', 'build', '--package', 'nginx', '--port', '80'], [/"build" is a verb of build\.ts/]],
  [['new', 'nginx', '--package', 'nginx', '--port', '80'], [/appliances\/nginx already exists/, /docs\/appliances\.md: already has a row for nginx/, /test\/golden\/nginx-amd64\.yaml already exists/]],
  [['new', '--package', 'nginx', '--port', '80'], [/error: new: needs one argument/, /usage: npx tsx build\.ts new <name>/]],
  [['new', 'a', 'b', '--package', 'nginx', '--port', '80'], [/takes at most 1 argument/]],
  [['new', '--remove', 'demo', '--port', '80'], [/new --remove demo: takes no --port/]],
  [['new', 'demo', '--package', 'nginx', '--port', '80', '--no-wait'], [/--no-wait goes with --remove only/]],
  [['new', '--remove', 'ghost'], [/nothing to remove/]],
];

test('new: bad command lines are refused with every problem named, exit 1, nothing written', async () => {
  const s = project();
  try {
    const before = snapshot(s.dir);
    for (const [argv, res] of BAD) {
      const r = await runCli(argv, { root: s.dir });
      assert.is(r.code, 1, `${argv.join(' ')}: ${r.stdout}`);
      for (const re of res) assert.match(r.stderr, re, `${argv.join(' ')}\n${r.stderr}`);
      assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
      assertSame(before, snapshot(s.dir));
    }
  } finally {
    s.cleanup();
  }
});

test('new: leftovers in the way and a catalogue without its table are refused before anything is written', async () => {
  const s = project();
  try {
    writeFileSync(join(s.dir, 'test', 'golden', 'layers', 'demo-amd64.image.yaml'), 'left over\n');
    const cat = join(s.dir, 'docs', 'appliances.md');
    // No row links a README, no header says Appliance: the Secure defaults table is no target.
    writeFileSync(cat, readFileSync(cat, 'utf8').replace(/^\| \[([a-z]+)\]\(\.\.\/appliances\/[a-z]+\/README\.md\)/gm, '| $1').replace(/^\| Appliance \|/gm, '| Name |'));
    const before = snapshot(s.dir);
    const r = await runCli(['new', 'demo', '--package', 'lighttpd', '--port', '80'], { root: s.dir });
    assert.is(r.code, 1);
    assert.match(r.stderr, /test\/golden\/layers\/demo-amd64\.image\.yaml already exists \(left by a removed appliance\? `npx tsx build\.ts new --remove demo` deletes it\)/);
    assert.match(r.stderr, /docs\/appliances\.md: no appliance table to add the row to/);
    assertSame(before, snapshot(s.dir));
    rmSync(cat);
    const missing = await runCli(['new', 'demo', '--package', 'lighttpd', '--port', '80'], { root: s.dir });
    assert.match(missing.stderr, /docs\/appliances\.md: missing/);
    // --remove takes the leftover golden file even without the folder.
    const rm = await runCli(['new', '--remove', 'demo'], { root: s.dir });
    assert.is(rm.code, 0, rm.stderr);
    assert.not.ok(existsSync(join(s.dir, 'test', 'golden', 'layers', 'demo-amd64.image.yaml')));
  } finally {
    s.cleanup();
  }
});

test('new: a failure half-way (a golden file cannot be written) removes what it wrote', async () => {
  const s = project();
  try {
    // test/golden/layers as a file: the amd64/arm64 files are written, the layer files fail.
    rmSync(join(s.dir, 'test', 'golden', 'layers'), { recursive: true });
    writeFileSync(join(s.dir, 'test', 'golden', 'layers'), 'not a folder\n');
    const before = snapshot(s.dir);
    const r = await runCli(['new', 'demo', '--package', 'lighttpd', '--port', '80'], { root: s.dir });
    assert.is(r.code, 1);
    assert.match(r.stderr, /error: new demo: could not write the scaffold \(nothing was kept\): EEXIST/);
    assertSame(before, snapshot(s.dir));
  } finally {
    s.cleanup();
  }
});

test('new --remove refuses an appliance git tracks, and removes nothing', async () => {
  const s = project();
  try {
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd: s.dir, stdio: 'pipe' });
    git('init', '-q');
    git('add', 'appliances/redis', 'test/golden');
    git('commit', '-q', '-m', 'x');
    mkdirSync(join(s.dir, '.cache', 'out', 'redis-amd64'), { recursive: true });
    const before = snapshot(s.dir);
    const r = await runCli(['new', '--remove', 'redis'], { root: s.dir });
    assert.is(r.code, 1);
    assert.match(r.stderr, /new --remove redis: git tracks appliances\/redis\/README\.md, .* and \d+ more: remove a committed appliance with git rm/);
    assertSame(before, snapshot(s.dir));
    assert.ok(existsSync(join(s.dir, '.cache', 'out', 'redis-amd64')));
  } finally {
    s.cleanup();
  }
});

test('withCatalogueRow: after the last row of the table of README links, not in another table naming appliances', () => {
  const row = '| [d](../appliances/d/README.md) | 2 |';
  const text = '# x\n\n| Appliance | a |\n|---|---|\n| [n](../appliances/n/README.md) | 1 |\n\nafter\n\n| Appliance | other |\n| n | x |\n';
  assert.is(withCatalogueRow(text, row), '# x\n\n| Appliance | a |\n|---|---|\n| [n](../appliances/n/README.md) | 1 |\n' + row + '\n\nafter\n\n| Appliance | other |\n| n | x |\n');
  const renamed = text.replace('| Appliance | a |', '| Image | a |');
  assert.ok(withCatalogueRow(renamed, row)!.includes('| 1 |\n' + row + '\n'), 'found by its rows, whatever the header');
  assert.is(withCatalogueRow('| Appliance | a |\n|---|---|\n\nx\n', row), '| Appliance | a |\n|---|---|\n' + row + '\n\nx\n', 'an empty catalogue: by its header');
  assert.is(withCatalogueRow('no table\n', row), undefined);
});

test.run();
