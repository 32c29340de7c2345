/**
 * Failures and safety of the build stage: a failing target does not stop the others (unless
 * --fail-fast), exit code and log tail, a foreign architecture without emulation, kill -9 and
 * Ctrl-C in the middle of a build, and the lock between two builds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { ResultPromise } from 'execa';
import { join } from 'node:path';
import { parseReport, project, summary, tmpLeft, type Project } from './project.ts';

let p: Project;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the fake distrobuilder has been started `n` times (it records on start). No time
 * limit (a loaded machine may take long to get there): it fails when `child` exits first.
 */
async function started(child: ResultPromise, n = 1): Promise<void> {
  const f = join(p.dir, 'fake-builds.log');
  let exited = false;
  void child.finally(() => { exited = true; }).catch(() => {});
  for (;;) {
    if (existsSync(f) && readFileSync(f, 'utf8').split('\n').filter(Boolean).length >= n) return;
    if (exited) throw new Error(`the build exited before the fake distrobuilder started:\n${(await child).all}`);
    await sleep(50);
  }
}

/** Resolves when `child`'s stderr matches `re`; rejects when it exits without that. */
function printed(child: ResultPromise, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      if (re.test(err)) resolve();
    });
    child.then((r) => reject(new Error(`exited ${r.exitCode} without printing ${re}:\n${r.all}`)), reject);
  });
}

test.before(() => {
  p = project();
});
test.after(() => p.cleanup());

test('a failing packages layer fails its target only; exit 1 with the log tail and path', async () => {
  const r = await p.run(['--all-arch', '--no-index', '-j', '2'], { FAKE_DB_FAIL: '^build-dir hello-' });
  assert.is(r.code, 1, r.all);
  assert.equal(p.builds(), ['nginx:amd64', 'nginx:arm64', 'tiny:amd64', 'tiny:arm64']);
  assert.match(r.stderr, /hello:amd64\/packages: FAILED after .*: distrobuilder exited with code 1/);
  assert.match(r.stderr, /\| E: Unable to locate package nginx-lite/);
  assert.match(r.stderr, /full log: \.cache\/logs\/hello-amd64\.packages\.log/);
  assert.match(r.stderr, /hello:amd64: FAILED after .*: hello:amd64\/packages failed: distrobuilder exited with code 1 \(log: \.cache\/logs\/hello-amd64\.packages\.log\)/);
  assert.match(r.stdout, /built 4, fresh 0, failed 2/);
  assert.match(readFileSync(join(p.dir, '.cache/logs/hello-amd64.packages.log'), 'utf8'), /Failed to manage packages/);
  assert.not.ok(p.exists('.cache/records/hello-amd64.json'), 'a failed build records nothing');
  assert.not.ok(p.exists('.cache/records/nodes/hello-amd64.packages.json'));
  assert.not.ok(p.exists('.cache/out/hello-amd64'));
  assert.equal(tmpLeft(p), []);
  // The failed ones are still stale, for the same reason as before; the base they share is built.
  const d = parseReport(await p.run(['--dry-run', '--json', '--all-arch']));
  assert.equal(summary(d)['hello:amd64'], 'stale: new target');
  assert.equal(summary(d)['nginx:amd64'], 'fresh');
  assert.equal(summary(d)['base/debian-trixie:amd64'], 'fresh');
});

test('a failing base fails every appliance on it with one message naming the base and its log', async () => {
  p.edit('appliances/_base/debian.ts', (t) => t.replace('packages: [', "packages: ['less', "));
  const r = await p.run(['--all-arch', '--no-index', '-j', '2'], { FAKE_DB_FAIL: '^build-dir base-debian-trixie-amd64' });
  assert.is(r.code, 1, r.all);
  assert.match(r.stderr, /base\/debian-trixie:amd64: FAILED after .*: distrobuilder exited with code 1/);
  assert.match(r.stderr, /full log: \.cache\/logs\/base-debian-trixie-amd64\.log/);
  for (const t of ['hello:amd64', 'nginx:amd64']) {
    assert.match(r.stderr, new RegExp(`${t}: FAILED after .*: base/debian-trixie:amd64 failed: distrobuilder exited with code 1 \\(log: \\.cache/logs/base-debian-trixie-amd64\\.log\\)`), t);
  }
  assert.equal(r.stderr.match(/\| E: Unable to locate package/g)?.length, 1, 'the log tail is shown once, for the base');
  assert.equal(p.builds(), ['hello:arm64', 'nginx:arm64']);
  assert.match(r.stdout, /built 2, fresh 2, failed 2/);
  const ok = await p.run(['--all-arch', '--no-index']);
  assert.is(ok.code, 0, ok.all);
  assert.equal(p.nodes(), ['base/debian-trixie:amd64', 'hello:amd64', 'hello:amd64/packages', 'nginx:amd64', 'nginx:amd64/packages']);
});

test('--fail-fast starts nothing after the first failure', async () => {
  p.edit('appliances/_base/debian.ts', (t) => t.replace("'less', ", "'less', 'vim-tiny', "));
  const r = await p.run(['--all-arch', '--no-index', '-j', '1', '--fail-fast'], { FAKE_DB_FAIL: '^build-dir hello-' });
  assert.is(r.code, 1, r.all);
  // The two bases build first; the first packages layer (hello:amd64) fails; nothing else starts.
  assert.equal(p.nodes(), ['base/debian-trixie:amd64', 'base/debian-trixie:arm64', 'hello:amd64/packages']);
  assert.match(r.stdout, /nginx:amd64: skipped \(an earlier build failed and --fail-fast is set\)/);
  assert.match(r.stdout, /built 0, fresh 2, failed 1, skipped 3/);
  const ok = await p.run(['--all-arch', '--no-index']);
  assert.is(ok.code, 0, ok.all);
  assert.equal(p.builds(), ['hello:amd64', 'hello:arm64', 'nginx:amd64', 'nginx:arm64']);
});

test('an Alpine target without an Alpine mirror fails at once, saying how to set one', async () => {
  const r = await p.run(['tiny:amd64', '--no-index'], { APPLIANCE_ALPINE_MIRROR: '' });
  assert.is(r.code, 1, r.all);
  assert.match(r.stderr, /base\/alpine-3.23:amd64: FAILED .*no Alpine mirror configured: set APPLIANCE_ALPINE_MIRROR or pass --alpine-mirror URL/);
  assert.match(r.stderr, /tiny:amd64: FAILED .*base\/alpine-3.23:amd64 failed: no Alpine mirror configured/);
  assert.equal(p.nodes(), []);
});

test('a foreign architecture without qemu-user: a clear error with the fix', async () => {
  const foreign = process.arch === 'arm64' ? 'amd64' : 'arm64';
  const empty = join(p.dir, '.no-binfmt');
  mkdirSync(empty, { recursive: true });
  const r = await p.run([`nginx:${foreign}`, '--force', '--no-index'], { APPLIANCE_BINFMT_DIR: empty });
  assert.is(r.code, 1, r.all);
  assert.ok(r.stderr.includes(`${foreign} needs qemu-user emulation: run \`sudo bash lib/host/setup.sh\` (or apt-get install qemu-user-static binfmt-support && update-binfmts --enable)`), r.stderr);
  assert.equal(p.builds(), []);
  // The previous outputs and record are untouched.
  assert.ok(p.exists(`.cache/out/nginx-${foreign}/rootfs.squashfs`));
});

test('kill -9 mid-build: nothing half-recorded; the next run rebuilds just that target', async () => {
  p.edit('appliances/nginx/files/nginx.conf', (t) => t + '# killed\n');
  p.builds();
  const child = p.start(['nginx:amd64', '--no-index'], { FAKE_DB_SLEEP: '30' });
  await started(child);
  p.builds();
  assert.equal(tmpLeft(p).length, 1, 'the build is in its temporary folder');
  child.kill('SIGKILL');
  await child;
  // The orphaned distrobuilder keeps running: the next run stops it and removes its folder.
  const d = parseReport(await p.run(['--dry-run', '--json', '--all-arch']));
  assert.equal(summary(d)['nginx:amd64'], 'stale: files/nginx.conf changed');
  assert.equal(summary(d)['nginx:arm64'], 'stale: files/nginx.conf changed');
  assert.equal(summary(d)['hello:amd64'], 'fresh');
  const r = await p.run(['nginx:amd64', '--no-index']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /removed \.cache\/tmp\/nginx-amd64\.\w+ \(left by an interrupted build\)/);
  assert.equal(p.builds(), ['nginx:amd64']);
  assert.equal(tmpLeft(p), []);
  const after = parseReport(await p.run(['--dry-run', '--json', '--all-arch']));
  assert.equal(summary(after)['nginx:amd64'], 'fresh');
});

test('kill -9 while a base builds: no node record, no tree; the next run builds it again', async () => {
  p.edit('appliances/_base/debian.ts', (t) => t.replace("'less', ", "'less', 'nano', "));
  p.nodes();
  const child = p.start(['hello:amd64', '--no-index'], { FAKE_DB_SLEEP: '30' });
  await started(child);
  assert.equal(p.nodes(), ['base/debian-trixie:amd64'], 'the base is what runs');
  const before = JSON.parse(p.read('.cache/records/nodes/base-debian-trixie-amd64.json')).hash;
  child.kill('SIGKILL');
  await child;
  assert.is(JSON.parse(p.read('.cache/records/nodes/base-debian-trixie-amd64.json')).hash, before, 'the old record stands');
  const d = parseReport(await p.run(['--dry-run', '--json', 'hello:amd64']));
  assert.equal(summary(d)['base/debian-trixie:amd64'], 'stale: packages changed');
  const r = await p.run(['hello:amd64', '--no-index']);
  assert.is(r.code, 0, r.all);
  assert.match(r.stdout, /removed \.cache\/tmp\/base-debian-trixie-amd64\.\w+ \(left by an interrupted build\)/);
  assert.equal(p.nodes(), ['base/debian-trixie:amd64', 'hello:amd64', 'hello:amd64/packages']);
  assert.equal(tmpLeft(p), []);
  // The edit undone: the arm64 base (never rebuilt) is as the tests below expect it.
  p.edit('appliances/_base/debian.ts', (t) => t.replace("'less', 'nano', ", "'less', "));
  p.nodes();
});

test('Ctrl-C mid-build: the build stops, cleans up, exits 130, records nothing', async () => {
  p.builds();
  const child = p.start(['nginx:arm64', '--no-index'], { FAKE_DB_SLEEP: '30' });
  await started(child);
  p.builds();
  child.kill('SIGINT');
  const r = await child;
  assert.is(r.exitCode, 130, String(r.all));
  assert.match(String(r.all), /interrupted/);
  assert.equal(tmpLeft(p), []);
  const d = parseReport(await p.run(['--dry-run', '--json', 'nginx:arm64']));
  assert.equal(summary(d), { 'nginx:arm64': 'stale: files/nginx.conf changed', 'base/debian-trixie:arm64': 'fresh' });
});

test('the lock: a second build waits for the first, then finds everything fresh', async () => {
  p.builds();
  // The first build holds the lock until the test releases its distrobuilder: no sleep to race.
  const release = join(p.dir, 'release-first-build');
  const first = p.start(['nginx:arm64', '--no-index'], { FAKE_DB_WAIT_FILE: release });
  try {
    await started(first);
    const noWait = await p.run(['nginx:arm64', '--no-index', '--no-wait']);
    assert.is(noWait.code, 1, noWait.all);
    assert.match(noWait.stderr, new RegExp(`another build is using \\.cache/ \\(pid ${first.pid}, build nginx:arm64\\); not waiting`));
    const second = p.start(['nginx:arm64', '--no-index']);
    await printed(second, new RegExp(`waiting for another build using \\.cache/ \\(pid ${first.pid}`));
    writeFileSync(release, '');
    const a = await first;
    assert.is(a.exitCode, 0, String(a.all));
    const b = await second;
    assert.is(b.exitCode, 0, String(b.all));
    assert.match(String(b.stdout), /nginx:arm64: fresh/);
    assert.equal(p.builds(), ['nginx:arm64'], 'built once');
  } finally {
    writeFileSync(release, '');
  }
});

test('a lock left by a killed build is taken over at once', async () => {
  p.edit('appliances/nginx/files/index.html', (t) => t + '<p>again</p>\n');
  p.builds();
  const child = p.start(['nginx:amd64', '--no-index'], { FAKE_DB_SLEEP: '30' });
  await started(child);
  p.builds();
  child.kill('SIGKILL');
  await child;
  assert.ok(p.exists('.cache/lock/owner.json'), 'the dead build left its lock');
  const r = await p.run(['nginx:amd64', '--no-index']);
  assert.is(r.code, 0, r.all);
  // Taken over at once: a build that waited (for the lock to go stale, 30 s) says so first.
  assert.not.match(r.stderr, /waiting for another build/, 'waited for the dead build\'s lock');
  assert.equal(p.builds(), ['nginx:amd64']);
});

test.run();
