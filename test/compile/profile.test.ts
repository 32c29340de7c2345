/**
 * The `profile <name>` verb: an Incus profile (YAML) with a proxy device for every published
 * port of each appliance, host address and port offset options, clear errors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { join } from 'node:path';
import { loadAppliances } from '../../lib/compile/load.ts';
import { applianceProfile, ProfileError, profileYaml } from '../../lib/compile/profile.ts';
import { ROOT, runCli } from '../helpers.ts';

const apps = await loadAppliances(join(ROOT, 'appliances'));

for (const app of apps) {
  test(`profile ${app.name}: one proxy device per published port, to 127.0.0.1 in the container`, async () => {
    const r = await runCli(['profile', app.name]);
    assert.is(r.code, 0, r.stderr);
    const p = parse(r.stdout);
    assert.is(p.name, app.name);
    assert.type(p.description, 'string');
    assert.equal(p.config, {});
    const published = (app.ports ?? []).filter((x) => !x.localOnly);
    assert.is(Object.keys(p.devices).length, published.length);
    for (const port of published) {
      const proto = port.protocol ?? 'tcp';
      const dev = p.devices[`${app.name}-${port.port}${proto === 'udp' ? '-udp' : ''}`];
      assert.ok(dev, `device for ${port.port}/${proto}`);
      assert.equal(dev, { type: 'proxy', listen: `${proto}:0.0.0.0:${port.port}`, connect: `${proto}:127.0.0.1:${port.port}` });
    }
    for (const port of (app.ports ?? []).filter((x) => x.localOnly)) {
      assert.not.ok(Object.values(p.devices).some((d) => (d as { connect: string }).connect.endsWith(`:${port.port}`)), `local-only ${port.port} is not published`);
    }
  });
}

test('profile nginx: the expected YAML', async () => {
  const r = await runCli(['profile', 'nginx']);
  const body = r.stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  assert.fixture(body, `name: nginx
description: "nginx appliance (nginx web server and reverse proxy): proxy devices on 0.0.0.0"
config: {}
devices:
  nginx-80:
    type: proxy
    listen: tcp:0.0.0.0:80
    connect: tcp:127.0.0.1:80
  nginx-443:
    type: proxy
    listen: tcp:0.0.0.0:443
    connect: tcp:127.0.0.1:443
`);
  assert.match(r.stdout, /^# .*incus profile create nginx/m);
});

test('profile caddy: UDP 443 (HTTP/3) gets its own device; the admin API is not published', async () => {
  const p = parse((await runCli(['profile', 'caddy'])).stdout);
  assert.equal(p.devices['caddy-443-udp'], { type: 'proxy', listen: 'udp:0.0.0.0:443', connect: 'udp:127.0.0.1:443' });
  assert.not.ok(p.devices['caddy-2019']);
});

test('--listen-address, --port-offset and --name', async () => {
  const r = await runCli(['profile', 'postgres', '--listen-address', '127.0.0.1', '--port-offset', '10000', '--name', 'pg-local']);
  assert.is(r.code, 0, r.stderr);
  const p = parse(r.stdout);
  assert.is(p.name, 'pg-local');
  assert.equal(p.devices['postgres-5432'], { type: 'proxy', listen: 'tcp:127.0.0.1:15432', connect: 'tcp:127.0.0.1:5432' });
  const v6 = parse((await runCli(['profile', 'redis', '--listen-address', '::1'])).stdout);
  assert.is(v6.devices['redis-6379'].listen, 'tcp:[::1]:6379');
  const neg = parse((await runCli(['profile', 'nginx', '--port-offset=-79'])).stdout);
  assert.is(neg.devices['nginx-80'].listen, 'tcp:0.0.0.0:1');
});

test('clear errors: unknown appliance, no or several names, a target, bad options', async () => {
  const unknown = await runCli(['profile', 'mysql']);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /unknown appliance "mysql"; appliances: .*nginx/);
  assert.match((await runCli(['profile'])).stderr, /profile: needs one argument\n  usage: npx tsx build.ts profile <name>/);
  assert.match((await runCli(['profile', 'nginx', 'redis'])).stderr, /profile: takes at most 1 argument \(got 2: "nginx" "redis"\)\n  usage: /);
  assert.match((await runCli(['profile', 'nginx:amd64'])).stderr, /not a target/);
  assert.match((await runCli(['profile', 'nginx', '--port-offset', 'ten'])).stderr, /--port-offset: expected an integer, got "ten"/);
  assert.match((await runCli(['profile', 'nginx', '--port-offset', '65500'])).stderr, /80\/tcp \+ offset 65500 = 65580 is outside 1-65535/);
  assert.match((await runCli(['profile', 'nginx', '--listen-address', 'example.com'])).stderr, /not an IPv4 or IPv6 address/);
  assert.match((await runCli(['profile', 'nginx', '--name', 'a b'])).stderr, /profile name "a b" is not usable/);
  for (const r of [unknown]) assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
});

test('applianceProfile is pure and throws ProfileError', () => {
  const app = { name: 'x', version: '1', description: 'x', ports: [{ port: 53, protocol: 'udp' as const, description: 'DNS' }, { port: 9000, description: 'admin', localOnly: true }] };
  assert.equal(applianceProfile(app).devices, { 'x-53-udp': { type: 'proxy', listen: 'udp:0.0.0.0:53', connect: 'udp:127.0.0.1:53' } });
  assert.throws(() => applianceProfile(app, { portOffset: 1.5 }), (e: unknown) => e instanceof ProfileError);
  assert.match(profileYaml({ ...app, ports: [] }), /declares no published ports/);
  assert.match(profileYaml(app), /not published \(127\.0\.0\.1 only\): 9000\/tcp admin/);
});

test('help lists the profile verb and its options', async () => {
  const r = await runCli(['help', 'profile']);
  assert.is(r.code, 0);
  for (const o of ['--listen-address', '--port-offset', '--name']) assert.ok(r.stdout.includes(o));
});

test.run();
