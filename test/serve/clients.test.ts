/**
 * Real clients against `serve`: the Incus CLI lists every appliance with its aliases and the
 * Incus daemon downloads an image (checking every sha256 and the fingerprint); the LXD client
 * (Debian's lxd-client, no daemon) lists them too. Required under CI=true, skipped clearly
 * elsewhere when the tools are missing.
 *
 * Isolation: each client gets a private configuration folder (INCUS_CONF / LXD_CONF) holding the
 * remote and its pinned certificate at `<conf>/servercerts/<remote>.crt` (the same place as
 * `~/.config/incus/servercerts/` for a user), so the user's own remotes are never touched; the
 * index caches of the remote URL are cleared before and after.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execa } from 'execa';
import { addImages } from '../../lib/registry/index.ts';
import { startServer, type RunningServer } from '../../lib/serve/server.ts';
import { fakeImage, withTools, scratch } from '../registry/fake-images.ts';

const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);
const s = scratch('serve-clients-');
const reg = join(s.dir, 'registry');
let srv: RunningServer;
let newestNginx = '';
const remote = `appliance-test-${process.pid}`;

/** Every alias Incus should show: each product alias, plain and with /<arch>. */
const EXPECTED = ['nginx', 'nginx/1.26', 'nginx/amd64', 'nginx/1.26/amd64', 'nginx/arm64', 'nginx/1.26/arm64', 'redis', 'redis/7.2', 'redis/amd64', 'redis/7.2/amd64'];

/** Index caches of a remote URL (CLI: 5 min, daemon: 1 h), named after sha256(URL). */
function clearCaches(url: string): void {
  const key = createHash('sha256').update(url).digest('hex');
  for (const dir of [join(homedir(), '.cache', 'incus', key), join('/var/cache/incus', key)]) rmSync(dir, { recursive: true, force: true });
}

test.before(async () => {
  await addImages(reg, [
    await fakeImage(s.dir, { name: 'nginx', arch: 'amd64', builtAt: new Date(T0) }),
    await fakeImage(s.dir, { name: 'nginx', arch: 'arm64', builtAt: new Date(T0) }),
    await fakeImage(s.dir, { name: 'redis', version: '7.2', arch: 'amd64', builtAt: new Date(T0) }),
  ]);
  // A second build in the same minute: it must be the one owning the aliases.
  const r = await addImages(reg, [await fakeImage(s.dir, { name: 'nginx', arch: 'amd64', builtAt: new Date(T0 + 30_000) })]);
  newestNginx = r.added[0].fingerprint;
  srv = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir: join(s.dir, 'certs'), log: () => {} });
  clearCaches(srv.url);
});

test.after(async () => {
  await srv?.close();
  if (srv) clearCaches(srv.url);
  s.cleanup();
});

type Listed = { fingerprint: string; aliases: { name: string }[] | null; architecture: string; properties: Record<string, string> };

const daemon = async () => (await execa('incus', ['info'], { reject: false, env: { INCUS_CONF: join(s.dir, 'incus-probe') } })).exitCode === 0;
(await withTools(test, { cmd: 'incus', why: 'needs the Incus client and a running incusd (incus info)', check: daemon }))('incus: `incus image list` shows every appliance with its aliases; the daemon downloads and verifies one', async () => {
  const conf = join(s.dir, 'incus-conf');
  mkdirSync(join(conf, 'servercerts'), { recursive: true });
  const env = { INCUS_CONF: conf };
  const imageAlias = `${remote}-copy`;
  try {
    copyFileSync(srv.certificate.certPath, join(conf, 'servercerts', `${remote}.crt`));
    await execa('incus', ['remote', 'add', remote, srv.url, '--protocol', 'simplestreams'], { env });
    const json = await execa('incus', ['image', 'list', `${remote}:`, '--format', 'json'], { env });
    const listed = JSON.parse(json.stdout) as Listed[];
    assert.is(listed.length, 4);
    const aliases = listed.flatMap((i) => (i.aliases ?? []).map((a) => a.name)).sort();
    assert.equal(aliases, [...EXPECTED].sort());
    const owner = listed.find((i) => i.aliases?.some((a) => a.name === 'nginx'));
    assert.is(owner?.fingerprint, newestNginx, 'the newest build of the minute owns "nginx"');
    assert.is(owner?.properties.description, 'nginx 1.26 on Debian 13 (trixie) amd64 (20261126_14:05_001)');
    assert.equal(listed.map((i) => i.architecture).sort(), ['aarch64', 'x86_64', 'x86_64', 'x86_64']);
    const csv = await execa('incus', ['image', 'list', `${remote}:`, '--format', 'csv'], { env });
    assert.match(csv.stdout, /^nginx \(3 more\),[0-9a-f]{12},yes,nginx 1\.26 on Debian 13 \(trixie\) amd64 \(20261126_14:05_001\),x86_64,CONTAINER,/m);
    assert.match(csv.stdout, /^redis \(3 more\),/m);

    // The daemon: tries http:// first (answered 400 at once), then https:// with the pinned
    // certificate, checks both sha256 and the combined fingerprint.
    await execa('incus', ['image', 'copy', `${remote}:nginx`, 'local:', '--alias', imageAlias], { env });
    const info = await execa('incus', ['image', 'info', imageAlias], { env });
    assert.match(info.stdout, new RegExp(`Fingerprint: ${newestNginx}`));
  } finally {
    await execa('incus', ['image', 'delete', imageAlias], { env, reject: false });
    await execa('incus', ['remote', 'remove', remote], { env, reject: false });
    clearCaches(srv.url);
  }
});

const isLxd = async () => /Client version/.test((await execa('lxc', ['version'], { reject: false, env: { LXD_CONF: join(s.dir, 'lxd-probe') } })).stdout);
(await withTools(test, { cmd: 'lxc', why: "needs Debian's lxd-client (the LXD `lxc` command)", check: isLxd }))('LXD client: `lxc image list` (lxd-client, no daemon) shows them too', async () => {
  const conf = join(s.dir, 'lxd-conf');
  mkdirSync(join(conf, 'servercerts'), { recursive: true });
  const env = { LXD_CONF: conf };
  copyFileSync(srv.certificate.certPath, join(conf, 'servercerts', `${remote}.crt`));
  await execa('lxc', ['remote', 'add', remote, srv.url, '--protocol', 'simplestreams', '--public'], { env });
  const json = await execa('lxc', ['image', 'list', `${remote}:`, '--format', 'json'], { env });
  const listed = JSON.parse(json.stdout) as Listed[];
  assert.is(listed.length, 4, 'without lxd.tar.xz items LXD would list nothing');
  assert.equal(listed.flatMap((i) => (i.aliases ?? []).map((a) => a.name)).sort(), [...EXPECTED].sort());
  const csv = await execa('lxc', ['image', 'list', `${remote}:`, '--format', 'csv'], { env });
  assert.match(csv.stdout, /^nginx \(3 more\),/m);
});

test.run();
