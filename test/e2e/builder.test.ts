/**
 * End to end, for real: nginx built inside builder containers on this host's Incus
 * (`--builder local`) with the host's own distrobuilder made unavailable
 * (`DISTROBUILDER=/bin/false`). First the builder appliance itself is built and tested; then a
 * forced nginx build is killed with SIGKILL while distrobuilder runs in its container; the next
 * run removes that orphan (it carries our mark, its owner is gone) and builds nginx completely in
 * builder containers; no builder container is left; the image passes `test nginx`. The tree
 * cache volume (its own name here, deleted at the end): the run stores the base (pushed once)
 * and the packages tree, and the pack takes that tree from the volume instead of a push.
 * One full nginx build (packages layer and image on the shared base) keeps it to a few minutes.
 *
 * REQUIRED when CI=true; elsewhere it runs when APPLIANCE_REAL_BUILD=1 and Incus answers, and is
 * skipped with a message otherwise. It uses the project's own .cache/ and registry/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { incus, incusAvailable } from '../../lib/incus/client.ts';
import { distrobuilderVersion } from '../../lib/validate/distrobuilder.ts';
import { ROOT, runBuildTs } from '../helpers.ts';
import { builderPrefix } from '../../lib/builder/incus-executor.ts';

const CI = process.env.CI === 'true';
const wanted = CI || process.env.APPLIANCE_REAL_BUILD === '1';
const incusState = await incusAvailable();
const dbVersion = await distrobuilderVersion();
const env = { ...process.env, NO_COLOR: '1' };
/** Names of this suite's Incus objects start with this (APPLIANCE_TEST_PREFIX, then bld-). */
const BLD = builderPrefix();
/** The tree cache volume of this suite (deleted at the end). */
const VOLUME = `${BLD}e2e-trees`;
/** The host's distrobuilder made unavailable: every node must run in a builder. */
const noHostDb = { ...env, DISTROBUILDER: '/bin/false', APPLIANCE_BUILDER_VOLUME: VOLUME };

/** Deletes the suite's tree cache volume (in the default profile's root pool). */
async function dropVolume(): Promise<void> {
  const r = await incus(['query', 'local:/1.0/profiles/default']);
  const devices = (JSON.parse(r.stdout || '{}') as { devices?: Record<string, { type?: string; path?: string; pool?: string }> }).devices ?? {};
  const pool = Object.values(devices).find((d) => d.type === 'disk' && d.path === '/')?.pool ?? 'default';
  await execa('incus', ['storage', 'volume', 'delete', `local:${pool}`, VOLUME], { reject: false });
}

/** Our builder containers for nginx (names this suite owns). */
async function nginxBuilders(): Promise<string[]> {
  const r = await incus(['list', '--format', 'csv', '-c', 'n']);
  return r.stdout.split('\n').filter((n) => n.startsWith(`${BLD}nginx-amd64`));
}

/** Moves the outputs and records of `slugs` aside; `restore` puts them back as they were. */
function keepAside(slugs: string[]): { restore(): void } {
  const cache = join(ROOT, '.cache');
  const aside = mkdtempSync(join(cache, 'aside-'));
  const files = slugs.flatMap((s) => [join('out', s), join('records', `${s}.json`), join('records', `${s}.key.json`)]).filter((f) => existsSync(join(cache, f)));
  for (const f of files) {
    mkdirSync(dirname(join(aside, f)), { recursive: true });
    cpSync(join(cache, f), join(aside, f), { recursive: true });
  }
  return {
    restore() {
      for (const f of files) {
        rmSync(join(cache, f), { recursive: true, force: true });
        renameSync(join(aside, f), join(cache, f));
      }
      rmSync(aside, { recursive: true, force: true });
    },
  };
}

if (!wanted || (!CI && (!incusState.ok || !dbVersion))) {
  console.log(`builder end-to-end suite skipped: ${!wanted ? 'set APPLIANCE_REAL_BUILD=1 (CI sets CI=true)' : incusState.reason ?? 'distrobuilder is not installed'}; run \`sudo bash lib/host/setup.sh\` first`);
  test.skip('end to end: build nginx in builder containers');
} else {
  test('the builder appliance builds and passes its checks (distrobuilder runs inside)', async () => {
    const r = await runBuildTs(['test', 'builder', '--plain'], { env });
    assert.is(r.code, 0, r.all.slice(-3000));
    assert.match(r.stdout, /builder\s+PASS/);
  });

  test('kill -9 of the CLI while distrobuilder runs in a builder container leaves the container behind', async () => {
    assert.equal(await nginxBuilders(), [], 'no builder container of ours before');
    const child = execa(process.execPath, ['--import', 'tsx', 'build.ts', 'nginx:amd64', '--builder', 'local', '--force', '--plain'], { cwd: ROOT, env: noHostDb, reject: false, all: true });
    let out = '';
    child.all!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 600 && !/nginx:amd64\/packages: Managing packages/.test(out); i++) await new Promise((r) => setTimeout(r, 500));
    assert.match(out, new RegExp(`nginx:amd64/packages: launching builder container ${BLD}nginx-amd64-packages-`), out);
    child.kill('SIGKILL');
    await child;
    assert.is((await nginxBuilders()).length, 1, 'the killed run\'s container is still there');
  });

  test('the next run removes the orphan, builds nginx in builder containers, and leaves none', async () => {
    const r = await runBuildTs(['nginx:amd64', '--builder', 'local', '--force', '--plain'], { env: noHostDb });
    assert.is(r.code, 0, r.all.slice(-3000));
    assert.match(r.stdout, new RegExp(`removed builder container ${BLD}nginx-amd64-packages-[0-9a-f]{6} on local \\(left by a killed build, pid \\d+\\)`));
    assert.match(r.stdout, /nginx:amd64\/packages: launching builder container/);
    assert.match(r.stdout, /nginx:amd64: launching builder container/);
    assert.match(r.stdout, /nginx:amd64: built in/);
    assert.match(r.stdout, /nginx:amd64\/packages: tree left on the builder \(\S+ \S+ not pulled/, 'the packages tree stayed in the volume');
    assert.match(r.stdout, /nginx:amd64: tree cache volume: \S+ \S+ not pushed \([0-9a-f]+ verified\)/, 'the pack took the packages tree from the volume');
    assert.equal(await nginxBuilders(), [], 'no builder container left');
  });

  test('a second target on the same base: the base is neither pushed nor pulled, its own tree stays on the builder', async () => {
    const t0 = Date.now();
    const r = await runBuildTs(['memcached:amd64', '--builder', 'local', '--force', '--plain', '--no-index'], { env: noHostDb });
    assert.is(r.code, 0, r.all.slice(-3000));
    assert.not.match(r.stdout, /base\/debian-trixie:amd64: building/, 'the base was not built');
    assert.match(r.stdout, /memcached:amd64\/packages: tree cache volume: \S+ \S+ not pushed \([0-9a-f]+ verified\)/, 'the base came from the volume');
    assert.match(r.stdout, /memcached:amd64\/packages: tree left on the builder \(\S+ \S+ not pulled/);
    assert.not.match(r.stdout, /memcached:amd64\/packages: pulling the outputs/, 'nothing of the tree node came back');
    assert.match(r.stdout, /memcached:amd64: tree cache volume: \S+ \S+ not pushed/, 'the pack read the packages tree in the volume');
    console.log(`memcached:amd64 on the builder with the base in the volume: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  test('the nginx image built in builder containers passes test nginx', async () => {
    const r = await runBuildTs(['test', 'nginx', '--builder', 'local', '--no-day-two'], { env: noHostDb });
    assert.is(r.code, 0, r.all.slice(-3000));
    assert.match(r.stdout, /nginx:amd64: fresh/, 'built by the run before, not rebuilt');
    assert.match(r.stdout, /nginx\s+PASS/);
    assert.equal(await nginxBuilders(), []);
  });

  test('this host needs the trees (a repack here): pulled from the volume, verified, not rebuilt', async () => {
    // The suites after this one expect the xz images of nginx and memcached as built: kept aside, put back.
    const kept = keepAside(['nginx-amd64', 'memcached-amd64']);
    try {
      const t0 = Date.now();
      const r = await runBuildTs(['nginx:amd64', 'memcached:amd64', '--compression', 'zstd-3', '--plain', '--no-index'], { env });
      assert.is(r.code, 0, r.all.slice(-3000));
      for (const n of ['nginx', 'memcached']) {
        assert.match(r.stdout, new RegExp(`${n}:amd64/packages: tree pulled from builder local \\(volume ${VOLUME}, sha256 [0-9a-f]{12} verified\\)`));
        assert.not.match(r.stdout, new RegExp(`${n}:amd64/packages: Managing packages`), 'not rebuilt');
      }
      console.log(`nginx and memcached trees pulled and repacked here: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      kept.restore();
    }
  });

  test('cleanup: the suite\'s tree cache volume', async () => {
    await dropVolume();
  });
}

test.run();
