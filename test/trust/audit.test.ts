/**
 * The offline CVE audit against a fixture in the Debian security tracker's real export format
 * (test/fixtures/debian-tracker.json): planted CVEs fixed by a newer version, already fixed,
 * epochs on either side, a tilde pre-release, a binNMU, NVD urgencies, open, undetermined,
 * another release only, never affected, a source no image holds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditPackages, checkTracker } from '../../lib/trust/audit.ts';
import { addImages } from '../../lib/registry/index.ts';
import { ROOT, runCli } from '../helpers.ts';
import { scratch, fakeImage } from '../registry/fake-images.ts';
import { NGINX_PACKAGES, REDIS_PACKAGES, attestedImage } from './helpers.ts';

const FIXTURE = join(ROOT, 'test/fixtures/debian-tracker.json');
const tracker = checkTracker(JSON.parse(readFileSync(FIXTURE, 'utf8')));
const brief = (fs: ReturnType<typeof auditPackages>) => fs.map((f) => `${f.state} ${f.cve} ${f.source} ${f.installed}${f.fixed ? ` -> ${f.fixed}` : ''} ${f.urgency}`);

test('nginx: every planted CVE found, none that is fixed, open ones apart', () => {
  assert.equal(brief(auditPackages(NGINX_PACKAGES, tracker, 'trixie')), [
    'fixable CVE-2025-0001 openssl 3.5.1-1 -> 3.5.4-1 high',
    'fixable CVE-2025-0017 xz-utils 5.6.4-1 -> 1:5.2-1 high', // epoch on the fix
    'fixable CVE-2025-0016 util-linux 2.41-5 -> 2.41.5-1 medium', // the binaries' epoch is not the source's
    'fixable CVE-2025-0008 bash 5.2.37-2 -> 5.2.37-3 low', // a binNMU does not carry the fix
    'fixable CVE-2025-0015 tzdata 2025b-4 -> 2025c-1 low', // low** (NVD) is low
    'fixable CVE-2025-0005 pcre2 10.45~rc1-1 -> 10.45-1 not yet assigned', // tilde
    'open CVE-2025-0010 glibc 2.41-12 high',
    'open TEMP-0000000-A1B2C3 nginx 1.26.3-3 unimportant',
    'undetermined CVE-2025-0011 systemd 257.7-1 not yet assigned',
  ]);
});

test('the binary packages of each source are named; redis (newer openssl) has only the open glibc CVE', () => {
  const f = auditPackages(NGINX_PACKAGES, tracker, 'trixie');
  assert.equal(f.find((x) => x.cve === 'CVE-2025-0001')!.packages, ['libssl3t64', 'openssl']);
  assert.equal(f.find((x) => x.cve === 'CVE-2025-0016')!.packages, ['bsdutils', 'libmount1']);
  assert.equal(brief(auditPackages(REDIS_PACKAGES, tracker, 'trixie')), ['open CVE-2025-0010 glibc 2.41-12 high']);
  assert.equal(auditPackages(NGINX_PACKAGES, tracker, 'bookworm'), [], 'a bookworm entry does not apply to a trixie image, nor the reverse');
});

test('a tracker file of another shape, or a version that is not Debian, is an error naming it', () => {
  assert.throws(() => checkTracker([]), /not a JSON object keyed by source package/);
  assert.throws(() => checkTracker({ nginx: { 'CVE-1': 'x' } }), /"nginx" > "CVE-1": expected an object/);
  const bad = { openssl: { 'CVE-9': { releases: { trixie: { status: 'resolved', fixed_version: '3.5 beta' } } } } };
  assert.throws(() => auditPackages(NGINX_PACKAGES, checkTracker(bad), 'trixie'), /openssl CVE-9: "3\.5 beta" is not a Debian version/);
});

async function registry(dir: string): Promise<string> {
  const reg = join(dir, 'registry');
  await addImages(reg, [
    await attestedImage(dir, NGINX_PACKAGES, { name: 'nginx' }),
    await attestedImage(dir, REDIS_PACKAGES, { name: 'redis', version: '8.0' }),
  ], { catalogue: false });
  return reg;
}

test('audit verb: text, --json, --fail-on high (fixable only, or open too), bad options', async () => {
  const s = scratch('trust-audit-');
  try {
    const reg = await registry(s.dir);
    const all = await runCli(['audit', '--tracker', FIXTURE, '--registry', reg]);
    assert.is(all.code, 0, all.stderr);
    assert.match(all.stdout, /nginx:amd64:default 1\.26 \(\S+, trixie, fingerprint [0-9a-f]{12}\): 6 fixable, 3 without a fix/);
    assert.match(all.stdout, /CVE-2025-0001\s+high\s+openssl 3\.5\.1-1 -> 3\.5\.4-1\s+\[libssl3t64, openssl\]/);
    assert.match(all.stdout, /redis:amd64:default 8\.0 \(\S+, trixie, fingerprint [0-9a-f]{12}\): 0 fixable, 1 without a fix/);

    const json = await runCli(['audit', '--tracker', FIXTURE, '--registry', reg, '--json']);
    const out = JSON.parse(json.stdout) as { images: Array<{ product: string; fixable: Array<{ cve: string }>; open: Array<{ cve: string }> }> };
    assert.equal(out.images.map((i) => [i.product, i.fixable.length, i.open.length]), [['nginx:amd64:default', 6, 3], ['redis:amd64:default', 0, 1]]);

    const high = await runCli(['audit', '--tracker', FIXTURE, '--registry', reg, '--fail-on', 'high']);
    assert.is(high.code, 1);
    assert.match(high.stderr, /2 CVE\(s\) at --fail-on high: CVE-2025-0001, CVE-2025-0017/);
    assert.is((await runCli(['audit', 'redis', '--tracker', FIXTURE, '--registry', reg, '--fail-on', 'high'])).code, 0, 'an open CVE does not fail the gate by default');
    assert.is((await runCli(['audit', 'redis', '--tracker', FIXTURE, '--registry', reg, '--fail-on', 'high', '--fail-on-open'])).code, 1);
    assert.is((await runCli(['audit', 'nginx:amd64', '--tracker', FIXTURE, '--registry', reg, '--fail-on', 'any'])).code, 1);

    const bogus = await runCli(['audit', '--tracker', FIXTURE, '--registry', reg, '--fail-on', 'severe']);
    assert.is(bogus.code, 1);
    assert.match(bogus.stderr, /--fail-on: expected one of unimportant, low, medium, high, any, got "severe"/);
    const missing = await runCli(['audit', '--tracker', join(s.dir, 'nope.json'), '--registry', reg]);
    assert.match(missing.stderr, /--tracker .*nope\.json: no such file/);
    writeFileSync(join(s.dir, 'bad.json'), '[1]');
    assert.match((await runCli(['audit', '--tracker', join(s.dir, 'bad.json'), '--registry', reg])).stderr, /bad\.json: not a JSON object keyed by source package/);
    assert.match((await runCli(['audit', '--registry', reg])).stderr, /--tracker FILE is required/);
    const ghost = await runCli(['audit', 'ghost', '--tracker', FIXTURE, '--registry', reg]);
    assert.is(ghost.code, 1);
    assert.match(ghost.stderr, /"ghost" is not in the registry .* \(it holds: nginx, redis\)/);
    assert.not.match(ghost.stderr + missing.stderr + bogus.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    s.cleanup();
  }
});

test('an image without an SBOM is reported, not silently passed (exit 1)', async () => {
  const s = scratch('trust-audit-');
  try {
    const reg = join(s.dir, 'registry');
    await addImages(reg, [await fakeImage(s.dir, { name: 'caddy' })], { catalogue: false });
    const r = await runCli(['audit', '--tracker', FIXTURE, '--registry', reg]);
    assert.is(r.code, 1);
    assert.match(r.stdout, /caddy:amd64:default 1\.26 \(\S+\): not audited: no SBOM \(built before SBOMs existed: rebuild it\)/);
  } finally {
    s.cleanup();
  }
});

test('sbom verb: the table of a published image; --json; an unknown name', async () => {
  const s = scratch('trust-audit-');
  try {
    const reg = await registry(s.dir);
    const r = await runCli(['sbom', 'nginx', '--registry', reg]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /nginx:amd64:default 1\.26 \(\S+, debian 13 trixie\): 12 packages, fingerprint [0-9a-f]{64}/);
    assert.match(r.stdout, /PACKAGE\s+VERSION\s+ARCH\s+SOURCE\s+SOURCE VERSION/);
    assert.match(r.stdout, /bsdutils\s+1:2\.41-5\s+amd64\s+util-linux\s+2\.41-5/);
    const j = JSON.parse((await runCli(['sbom', 'redis:amd64', '--json', '--registry', reg])).stdout);
    assert.equal(j[0].packages.map((p: { purl: string }) => p.purl), [
      'pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13',
      'pkg:deb/debian/libssl3t64@3.5.4-1?arch=amd64&distro=debian-13',
      'pkg:deb/debian/redis-server@5:8.0.2-1?arch=amd64&distro=debian-13',
    ]);
    const none = await runCli(['sbom', 'ghost', '--registry', reg]);
    assert.is(none.code, 1);
    assert.match(none.stderr, /"ghost" is not in the registry/);
  } finally {
    s.cleanup();
  }
});

test.run();
