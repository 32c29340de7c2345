/**
 * The secure and small defaults of mariadb, haproxy, mosquitto and unbound, read from what the
 * compiler produces (the YAML distrobuilder builds): what their READMEs and docs/appliances.md
 * promise is what the image gets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { compile } from '../../lib/compile/compile.ts';
import { loadAppliances } from '../../lib/compile/load.ts';
import { ROOT, TEST_MIRROR } from '../helpers.ts';

const ctx = { debianMirror: TEST_MIRROR, alpineMirror: 'https://alpine-mirror.example/alpine' };
const apps = await loadAppliances(join(ROOT, 'appliances'));
const yamlOf = (name: string) => {
  const app = apps.find((a) => a.name === name);
  assert.ok(app, `appliance ${name} exists`);
  return compile(app, 'amd64', ctx).yaml;
};

test('mariadb: server-core only (no Perl, Galera, client tools); no data directory in the image', () => {
  const app = apps.find((a) => a.name === 'mariadb')!;
  assert.equal([...app.packages!].sort(), ['mariadb-client-core', 'mariadb-server-core']);
  const yaml = yamlOf('mariadb');
  assert.match(yaml, /--auth-root-authentication-method=socket/, 'root: unix socket only');
  assert.match(yaml, /path-exclude=\/usr\/bin\/resolveip/);
  assert.match(yaml, /--skip-name-resolve --force/, "install-db never needs resolveip");
  assert.match(yaml, /StateDirectory=mysql/, 'a volume attached later is given to mysql');
  assert.not.match(yaml, /bind-address/, 'every address');
  assert.not.match(yaml, /network-online/);
});

test('mosquitto: no anonymous client on 1883; the local socket may only read $SYS', () => {
  const yaml = yamlOf('mosquitto');
  assert.match(yaml, /listener 1883\n\s+protocol mqtt\n\s+allow_anonymous false\n/);
  assert.match(yaml, /per_listener_settings true/);
  assert.match(yaml, /topic read \$SYS\/#/);
  assert.match(yaml, /password_file \/var\/lib\/mosquitto\/passwd/, 'the password file lives with the data (kept by incus rebuild)');
  assert.match(yaml, /\[ -e "\$file" \] \|\| write=1/, 'written by configure when missing (first boot, a new volume): nobody logs in before');
});

test('haproxy: health answered by haproxy itself; no stats page without a password', () => {
  const yaml = yamlOf('haproxy');
  assert.match(yaml, /monitor-uri \/healthz/);
  assert.match(yaml, /No stats page on 8404/);
  assert.match(yaml, /init-addr last,libc,none/, 'a host name never stops haproxy at boot');
  assert.match(yaml, /EXTRAOPTS="-S \/run\/haproxy-master\.sock -f \/etc\/haproxy\/appliance\.d -f \/etc\/haproxy\/conf\.d"/);
});

test('unbound: validating with a static anchor (nothing fetched or probed at start), loopback-only by default', () => {
  const yaml = yamlOf('unbound');
  assert.match(yaml, /module-config: "validator iterator"/);
  assert.match(yaml, /trust-anchor-file: "\/usr\/share\/dns\/root\.key"/);
  assert.not.match(yaml, /auto-trust-anchor-file:/);
  assert.match(yaml, /ROOT_TRUST_ANCHOR_UPDATE=false/);
  assert.match(yaml, /access-control: 127\.0\.0\.0\/8 refuse\n\s+access-control: 127\.0\.0\.1\/32 allow/);
  assert.match(yaml, /DNSStubListener=no/, 'port 53 is free for unbound');
  assert.match(yaml, /path-exclude=\/usr\/lib\/python3\.13\/\*/, 'the Python standard library stays out');
  const app = apps.find((a) => a.name === 'unbound')!;
  assert.ok(app.packages!.includes('dns-root-data'));
  assert.equal(app.ports!.map((p) => `${p.port}/${p.protocol}`), ['53/udp', '53/tcp']);
});

test.run();
