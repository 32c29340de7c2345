/**
 * The catalogue: nginx, postgres, redis, caddy and traefik, each on the Debian base (the
 * published `export default`) and the Alpine base (`export const variants = { alpine }`), and
 * the Debian-only haproxy, mariadb, memcached, mosquitto, prometheus, squid, unbound and valkey,
 * and the builder (a tool image for `--builder`, no service), for amd64 and arm64: every target compiles, passes the semantic checks and the real
 * `distrobuilder validate` (required in CI, skipped elsewhere when distrobuilder is missing).
 * Plus the catalogue's own rules: secure settings, tests that use the launch-time values, the
 * traefik release pin.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile } from '../../lib/compile/compile.ts';
import type { Appliance, ApplianceSpec, Arch } from '../../lib/compile/model.ts';
import { ARCHES } from '../../lib/compile/model.ts';
import { checkAppliance } from '../../lib/validate/semantic.ts';
import { distrobuilderValidate, distrobuilderVersion } from '../../lib/validate/distrobuilder.ts';
import { ROOT, TEST_MIRROR } from '../helpers.ts';

const CATALOGUE = ['nginx', 'postgres', 'redis', 'caddy', 'traefik'];
/** Appliances published on Debian with no Alpine variant (it could not be built or tested here). */
const DEBIAN_ONLY = ['haproxy', 'mariadb', 'memcached', 'mosquitto', 'prometheus', 'squid', 'unbound', 'valkey', 'builder'];
CATALOGUE.push(...DEBIAN_ONLY);
/** Tool images: no service, port or setting (the service rules below do not apply). */
const TOOLS = ['builder'];
/** Appliances that keep no data worth a volume (a memory cache). */
const NO_DATA = ['memcached'];
const ctx = { debianMirror: TEST_MIRROR, alpineMirror: 'https://alpine-mirror.example/alpine' };
const EXPECTED_ARCH: Record<string, Record<Arch, string>> = {
  debian: { amd64: 'amd64', arm64: 'arm64' },
  alpine: { amd64: 'x86_64', arm64: 'aarch64' },
};

interface Variant { name: string; base: string; app: Appliance }

/** Every appliance of the catalogue on every base, loaded as the loader would. */
const variants: Variant[] = [];
for (const name of CATALOGUE) {
  const dir = join(ROOT, 'appliances', name);
  const module = join(dir, 'appliance.ts');
  const mod = (await import(pathToFileURL(module).href)) as { default: ApplianceSpec; variants?: Record<string, ApplianceSpec> };
  variants.push({ name, base: mod.default.base.name, app: { ...mod.default, dir, module } });
  for (const [base, spec] of Object.entries(mod.variants ?? {})) variants.push({ name, base, app: { ...spec, dir, module } });
}

test('the catalogue: each appliance on Debian (published), and Alpine (variant) unless Debian-only', () => {
  for (const name of CATALOGUE) {
    const bases = variants.filter((v) => v.name === name).map((v) => v.base);
    assert.equal(bases, DEBIAN_ONLY.includes(name) ? ['debian'] : ['debian', 'alpine'], name);
  }
});

for (const v of variants) {
  const id = `${v.name} (${v.base})`;

  test(`${id}: declares amd64 and arm64 and the package manager of its base`, () => {
    assert.equal([...v.app.architectures].sort(), [...ARCHES].sort());
    assert.is(v.app.base.packageManager, v.base === 'alpine' ? 'apk' : 'apt');
  });

  test(`${id}: no semantic errors${v.base === 'debian' ? ' or warnings' : ''}`, () => {
    const problems = checkAppliance(v.app);
    // The Alpine variant may leave Debian-only files of files/ unused (a warning); nothing else.
    const relevant = v.base === 'debian' ? problems : problems.filter((p) => p.severity === 'error' || !/is not used by any files\[\] entry/.test(p.message));
    assert.equal(relevant, [], relevant.map((p) => `${p.field}: ${p.message}`).join('\n'));
  });

  for (const arch of ARCHES) {
    test(`${id}: compiles for ${arch}`, () => {
      const c = compile(v.app, arch, ctx);
      assert.is(c.definition.image.architecture, EXPECTED_ARCH[v.base][arch]);
      assert.is(c.definition.image.distribution, v.base === 'alpine' ? 'alpinelinux' : 'debian');
      // A tool image (no settings) has no settings machinery.
      if (!TOOLS.includes(v.name)) {
        assert.ok(c.yaml.includes(`/etc/appliance/settings.d/`), 'launch-time settings are delivered');
        assert.ok(c.yaml.includes('install -d -m 0700 -o root -g root /etc/appliance'), 'settings folder is root-only');
      }
    });
  }
}

const version = await distrobuilderVersion();
const required = process.env.CI === 'true';
if (!version && !required) {
  console.log('distrobuilder is not installed: `distrobuilder validate` of the catalogue skipped');
  test.skip('distrobuilder validate of the catalogue');
} else {
  test('distrobuilder is installed', () => assert.ok(version, 'distrobuilder is required in CI'));
  for (const v of variants) {
    for (const arch of ARCHES) {
      test(`distrobuilder validate ${v.name}:${arch} (${v.base})`, async () => {
        const err = await distrobuilderValidate(compile(v.app, arch, ctx).yaml);
        assert.is(err, undefined, err);
      });
    }
  }
}

for (const name of CATALOGUE.filter((n) => !TOOLS.includes(n))) {
  const app = variants.find((v) => v.name === name && v.base === 'debian')!.app;

  test(`${name}: settings are safe to publish (secrets have no default; non-secrets documented)`, () => {
    const settings = Object.entries(app.settings ?? {});
    assert.ok(settings.length > 0, 'at least one launch-time setting');
    for (const [key, s] of settings) {
      if (s.secret) assert.is(s.default, undefined, `${key}: a secret must not have a default`);
      assert.ok(s.description.length > 20, `${key}: describe it`);
    }
  });

  test(`${name}: health check and tests that exercise a launch-time setting`, () => {
    assert.ok(app.health.command.trim());
    assert.ok((app.tests ?? []).length >= 2, 'at least two tests');
    const examples = Object.values(app.settings ?? {}).map((s) => s.example).filter((e): e is string => !!e);
    assert.ok(examples.length > 0, 'settings have example values for the test verb');
    const used = (app.tests ?? []).filter((t) => examples.some((e) => t.command.includes(e)));
    assert.ok(used.length > 0, `some test uses an example value (${examples.join(', ')})`);
  });

  test(`${name}: ports and volumes declared; no published port is bound to loopback in the image`, () => {
    const published = (app.ports ?? []).filter((p) => !p.localOnly);
    assert.ok(published.length > 0, 'a published port');
    // A service configured at build time to listen on 127.0.0.1 or ::1 only could not be reached
    // through the profile's proxy device: every published port's address must not be loopback.
    const yaml = compile(app, 'amd64', ctx).yaml;
    for (const p of published) {
      const loopback = new RegExp(`(?:listen|bind)[^\\n]*(?:127\\.0\\.0\\.1|localhost|\\[::1\\]|::1)[:\\s]+${p.port}\\b`, 'i');
      assert.not.match(yaml, loopback, `port ${p.port} is published but bound to loopback`);
    }
    if (NO_DATA.includes(name)) assert.equal(app.volumes ?? [], [], 'no volume for an appliance without data');
    else assert.ok((app.volumes ?? []).length > 0, 'a volume');
  });
}

test('builder: a tool image with distrobuilder, debootstrap, squashfs-tools, rsync, xz and qemu-user; checks that run distrobuilder', () => {
  const app = variants.find((v) => v.name === 'builder')!.app;
  for (const p of ['distrobuilder', 'debootstrap', 'squashfs-tools', 'rsync', 'xz-utils', 'qemu-user']) assert.ok(app.packages!.includes(p), p);
  assert.equal([app.services ?? [], app.ports ?? [], Object.keys(app.settings ?? {})], [[], [], []], 'no service, port or setting');
  assert.ok((app.tests ?? []).filter((t) => /distrobuilder (validate|--cache-dir|--version)/.test(t.command)).length >= 3, 'checks run distrobuilder');
  const yaml = compile(app, 'amd64', ctx).yaml;
  assert.match(yaml, /-name 'qemu-aarch64'/, 'only the two emulators the registry needs are kept');
});

test('secrets: postgres password, redis password and the nginx TLS key', () => {
  const secret = (n: string, k: string) => variants.find((v) => v.name === n && v.base === 'debian')!.app.settings![k].secret === true;
  assert.ok(secret('postgres', 'password'));
  assert.ok(secret('redis', 'password'));
  assert.ok(secret('nginx', 'tls_key'));
});

test('postgres: the JIT (LLVM) is excluded from the Debian image and switched off', () => {
  const yaml = compile(variants.find((v) => v.name === 'postgres' && v.base === 'debian')!.app, 'amd64', ctx).yaml;
  assert.match(yaml, /path-exclude=\/usr\/lib\/\*\/libLLVM\*/);
  assert.match(yaml, /jit = off/);
  assert.match(yaml, /pg_dropcluster 17 main/, 'no build-time cluster in the image');
  assert.match(yaml, /rm -f \/etc\/ssl\/private\/ssl-cert-snakeoil\.key/, 'no build-time TLS key in the image');
});

test('redis: protected mode stays on and the password is stored as a hash', () => {
  const yaml = compile(variants.find((v) => v.name === 'redis' && v.base === 'debian')!.app, 'amd64', ctx).yaml;
  assert.match(yaml, /protected-mode yes/);
  assert.match(yaml, /sha256sum/);
  assert.not.match(yaml, /requirepass/);
});

test('traefik: the upstream release is pinned by version and sha256 per architecture and verified', async () => {
  const { TRAEFIK } = await import(pathToFileURL(join(ROOT, 'appliances', 'traefik', 'appliance.ts')).href) as { TRAEFIK: { version: string; sha256: Record<string, string> } };
  assert.match(TRAEFIK.version, /^\d+\.\d+\.\d+$/);
  assert.equal(Object.keys(TRAEFIK.sha256).sort(), [...ARCHES].sort());
  for (const sha of Object.values(TRAEFIK.sha256)) assert.match(sha, /^[0-9a-f]{64}$/);
  const app = variants.find((v) => v.name === 'traefik' && v.base === 'debian')!.app;
  for (const arch of ARCHES) {
    const yaml = compile(app, arch, ctx).yaml;
    assert.ok(yaml.includes(`version=${TRAEFIK.version}`));
    assert.ok(yaml.includes(TRAEFIK.sha256[arch]), `${arch} checksum in the build action`);
    assert.match(yaml, /sha256sum -c -/);
    assert.match(yaml, /https:\/\/github\.com\/traefik\/traefik\/releases\/download\/v\$\{version\}\//);
    assert.match(yaml, /apt-get purge -y --auto-remove curl/, 'curl is only a build tool');
  }
  const alpineApp = variants.find((v) => v.name === 'traefik' && v.base === 'alpine')!.app;
  assert.ok(alpineApp.packages!.includes('traefik'), 'Alpine uses its package');
  assert.not.match(compile(alpineApp, 'amd64', ctx).yaml, /curl -fsSL/);
});

test('traefik: ping on, dashboard on 127.0.0.1 only, not published', () => {
  const app = variants.find((v) => v.name === 'traefik' && v.base === 'debian')!.app;
  const yaml = compile(app, 'amd64', ctx).yaml;
  assert.match(yaml, /address: "127\.0\.0\.1:8080"/);
  assert.match(yaml, /ping:\n\s+entryPoint: traefik/);
  assert.ok(app.ports!.find((p) => p.port === 8080)!.localOnly);
});

test.run();
