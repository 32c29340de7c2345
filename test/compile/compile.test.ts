import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { parse } from 'yaml';
import { compile } from '../../lib/compile/compile.ts';
import { loadAppliances } from '../../lib/compile/load.ts';
import { KNOWN_KEYS } from '../../lib/distrobuilder/definition.ts';
import { toYaml } from '../../lib/compile/yaml.ts';
import { alpine } from '../../appliances/_base/alpine.ts';
import { ROOT, TEST_MIRROR, runBuildTs, testEnv } from '../helpers.ts';

const ctx = { debianMirror: TEST_MIRROR, alpineMirror: 'https://alpine-mirror.example/alpine' };
const [nginx] = await loadAppliances(join(ROOT, 'appliances'), ['nginx']);

test('compile is deterministic: byte-identical across runs and processes', async () => {
  const a = compile(nginx, 'amd64', ctx).yaml;
  const b = compile(nginx, 'amd64', ctx).yaml;
  assert.is(a, b);
  const env = testEnv();
  const r1 = await runBuildTs(['compile', 'nginx:amd64'], { env });
  const r2 = await runBuildTs(['compile', 'nginx:x86_64'], { env: { ...env, TZ: 'Asia/Tokyo', LANG: 'C' } });
  assert.is(r1.code, 0, r1.stderr);
  assert.is(r1.stdout, a);
  assert.is(r2.stdout, a, 'x86_64 spelling and another time zone give the same bytes');
});

test('no timestamps, anchors or folded lines', () => {
  const y = compile(nginx, 'arm64', ctx).yaml;
  assert.not.match(y, /\d{8}_\d{4}/);
  assert.not.match(y, /&a\d|\*a\d/);
  assert.not.match(y, /serial:/);
  const longLine = 'echo ' + 'x'.repeat(300);
  assert.ok(toYaml({ a: longLine }).includes(longLine), 'long lines are not folded');
});

test('YAML 1.1 booleans and octal-looking strings are quoted', () => {
  const out = toYaml({ a: 'yes', b: 'no', c: 'on', d: 'off', e: 'y', f: 'n', g: 'true', h: '0644', i: 'NO', j: '1e3' });
  for (const line of out.trim().split('\n')) assert.match(line, /: ["']/, line);
});

test('only keys distrobuilder knows are emitted', () => {
  const def = parse(compile(nginx, 'amd64', ctx).yaml);
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, `${path}.*`.replace(/^\./, '')));
    if (!v || typeof v !== 'object') return;
    const known = KNOWN_KEYS[path];
    if (!known) return; // free-form map
    for (const [k, x] of Object.entries(v)) {
      assert.ok(known.includes(k), `unknown key ${path}.${k}`);
      walk(x, path ? `${path}.${k}` : k);
    }
  };
  walk(def, '');
});

test('architecture names are mapped per base', () => {
  const d = parse(compile(nginx, 'arm64', ctx).yaml);
  assert.is(d.image.architecture, 'arm64');
  assert.is(d.mappings.architecture_map, 'debian');
  const onAlpine = { ...nginx, base: alpine(), packages: ['nginx'] };
  const a = parse(compile(onAlpine, 'amd64', ctx).yaml);
  assert.is(a.image.architecture, 'x86_64');
  assert.is(parse(compile(onAlpine, 'arm64', ctx).yaml).image.architecture, 'aarch64');
  assert.is(a.mappings.architecture_map, 'alpinelinux');
  assert.is(a.packages.manager, 'apk');
});

test('the Debian mirror comes from the context, never from a file', () => {
  const d = parse(compile(nginx, 'amd64', { ...ctx, debianMirror: 'http://other.example/debian' }).yaml);
  assert.is(d.source.url, 'http://other.example/debian');
  assert.is(d.source.downloader, 'debootstrap');
  assert.is(d.source.variant, 'minbase');
});

test('settings become templates rendered at create, copy and start, applied by a unit the services require', () => {
  const d = parse(compile(nginx, 'amd64', ctx).yaml);
  const tpl = d.files.find((f: { path?: string }) => f.path === '/etc/appliance/settings.d/server_name');
  assert.is(tpl.generator, 'template');
  assert.equal(tpl.template.when, ['create', 'copy', 'start']);
  assert.match(tpl.content, /config_get\("user\.nginx\.server_name", "_"\)/);
  const unit = d.files.find((f: { path?: string }) => f.path === '/etc/systemd/system/appliance-settings.service');
  assert.match(unit.content, /ExecStart=\/usr\/local\/bin\/appliance apply/);
  assert.not.match(unit.content, /ConditionPathExists/, 'applied at every start, not only the first');
  const dropin = d.files.find((f: { path?: string }) => f.path === '/etc/systemd/system/nginx.service.d/10-appliance-settings.conf');
  assert.match(dropin.content, /Requires=appliance-settings\.service\nAfter=appliance-settings\.service/, 'nginx does not start when the settings fail');
  const spec = d.files.find((f: { path?: string }) => f.path === '/usr/local/lib/appliance/settings.sh');
  assert.match(spec.content, /^S_SERVER_NAME_kind=/m);
  assert.ok(d.files.some((f: { path?: string }) => f.path === '/usr/local/bin/appliance'));
  assert.ok(d.actions.some((a: { action: string }) => a.action.includes('systemctl enable appliance-settings')));
});

test('an undeclared architecture is refused', () => {
  const one = { ...nginx, architectures: ['amd64' as const] };
  assert.throws(() => compile(one, 'arm64', ctx), /does not declare architecture arm64/);
});


test('the boot does not wait for the network unless the appliance sets waitForNetwork', async () => {
  const mask = 'systemctl mask systemd-networkd-wait-online.service';
  const scripts = (a: typeof nginx) => compile(a, 'amd64', ctx).layers.image.actions!.map((x) => x.action);
  const masked = scripts(nginx);
  const enable = masked.findIndex((s) => s.includes('systemctl enable systemd-networkd'));
  const maskAt = masked.findIndex((s) => s.includes(mask));
  assert.ok(maskAt > enable && enable >= 0, 'masked after enabling systemd-networkd (whose Also= enables the wait)');
  assert.not.ok(scripts({ ...nginx, waitForNetwork: 'it resolves names at start' }).some((s) => s.includes('wait-online')), 'a waitForNetwork reason keeps the wait');
  const [haproxy] = await loadAppliances(join(ROOT, 'appliances'), ['haproxy']);
  assert.ok(haproxy.waitForNetwork, 'haproxy resolves backend names once, at start');
  assert.not.ok(scripts(haproxy).some((s) => s.includes('wait-online')));
  const onAlpine = { ...nginx, base: alpine(), packages: ['nginx'], settings: {}, configure: undefined };
  assert.not.ok(scripts(onAlpine).some((s) => s.includes('wait-online')), 'OpenRC has no such wait');
  // The base layer (shared by every appliance) is the same either way: only the image differs.
  assert.equal(compile(nginx, 'amd64', ctx).layers.base, compile({ ...nginx, waitForNetwork: 'it resolves names at start' }, 'amd64', ctx).layers.base);
});

test.run();
