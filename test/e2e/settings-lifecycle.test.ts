/**
 * End to end, for real (issue 14, "day two"): postgres and redis built with distrobuilder,
 * launched in Incus with a custom data volume, then
 * - `build.ts test` removes the images Incus cached from its temporary remote;
 * - a bad value keeps the service stopped, `appliance status` (and `build.ts status`) names the
 *   setting and its rule and exits 1, nothing is executed from the value; fixed with
 *   `incus config set` + `incus restart`, the service runs with the new value;
 * - an unknown `user.<app>.*` key is reported;
 * - a password changed in SQL survives a restart and an `incus rebuild` (config unchanged);
 * - `incus copy` with the data volume: the copy does not start its service and says why, the
 *   original keeps running with every row; the same for mariadb, valkey, mosquitto and
 *   prometheus (one generic loop over their declarations), whose original then gets the
 *   upgrade: `incus rebuild` keeps its `keptData` and `keptChanges`, and fabricated `newerData`
 *   (another server version's data) is refused with the upgrade path;
 * - redis `incus export` + `incus import` under a new name: refused; the documented
 *   `user.redis.adopt-volume=<owner>` takes the volume over with its data, and the previous
 *   owner is refused from then on.
 *
 * Gated like the other end-to-end suites: REQUIRED when CI=true; elsewhere it runs when
 * APPLIANCE_REAL_BUILD=1 and Incus answers, and is reported as skipped otherwise. Everything it
 * creates in Incus is named `d2-e-*` (after `APPLIANCE_TEST_PREFIX`, as for `test`, on shared hosts)
 * and deleted at the end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { incus, incusAvailable, incusOk } from '../../lib/incus/client.ts';
import { distrobuilderVersion } from '../../lib/validate/distrobuilder.ts';
import { ROOT, runBuildTs } from '../helpers.ts';
import { loadAppliances } from '../../lib/compile/load.ts';
import type { Appliance } from '../../lib/compile/model.ts';
import { testSettings } from '../../lib/runtime/appliance-test.ts';

const CI = process.env.CI === 'true';
const wanted = CI || process.env.APPLIANCE_REAL_BUILD === '1';
const incusState = await incusAvailable();
const dbVersion = await distrobuilderVersion();
const env = { ...process.env, NO_COLOR: '1' };
const id = randomBytes(2).toString('hex');
/** Prefix of every Incus object the suite creates. */
const P = `${process.env.APPLIANCE_TEST_PREFIX ?? ''}d2-e-`;
const made = { instances: [] as string[], volumes: [] as string[], aliases: [] as string[], images: [] as string[] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The Incus fingerprint of a built image: sha256 of the metadata tarball then the rootfs. */
function fingerprint(app: string): string {
  const out = join(ROOT, '.cache', 'out', `${app}-amd64`);
  return createHash('sha256').update(readFileSync(join(out, 'incus.tar.xz'))).update(readFileSync(join(out, 'rootfs.squashfs'))).digest('hex');
}

async function cachedFingerprints(): Promise<string[]> {
  const list = JSON.parse(await incusOk(['image', 'list', '--format', 'json'])) as Array<{ fingerprint: string; cached: boolean }>;
  return list.filter((i) => i.cached).map((i) => i.fingerprint);
}

/** Imports the built image under a d2-e- alias (or aliases the same image already there). */
async function importImage(app: string): Promise<string> {
  const alias = `${P}${app}-${id}`;
  const fp = fingerprint(app);
  const out = join(ROOT, '.cache', 'out', `${app}-amd64`);
  const r = await incus(['image', 'import', join(out, 'incus.tar.xz'), join(out, 'rootfs.squashfs'), '--alias', alias], { timeoutMs: 300_000 });
  if (r.code === 0) made.images.push(fp);
  else await incusOk(['image', 'alias', 'create', alias, fp]);
  made.aliases.push(alias);
  return alias;
}

/** Creates an instance with a new custom volume at `path`, then starts it. */
async function launchWithVolume(alias: string, name: string, path: string, config: Record<string, string>): Promise<void> {
  const vol = `${name}-data`;
  await incusOk(['storage', 'volume', 'create', 'default', vol]);
  made.volumes.push(vol);
  made.instances.push(name);
  await incusOk(['init', alias, name, ...Object.entries(config).flatMap(([k, v]) => ['-c', `${k}=${v}`])], { timeoutMs: 300_000 });
  await incusOk(['storage', 'volume', 'attach', 'default', vol, name, path]);
  await incusOk(['start', name]);
}

/** Waits until the apply unit has finished (a result exists), then returns `appliance status`. */
async function settled(name: string, timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // /run is a tmpfs: the result of this boot's apply, written once it has finished.
    const r = await incus(['exec', name, '--', 'test', '-f', '/run/appliance/result'], { timeoutMs: 60_000 });
    if (r.code === 0) break;
    await sleep(2000);
  }
  const s = await incus(['exec', name, '--', 'appliance', 'status'], { timeoutMs: 60_000 });
  return { code: s.code, out: s.stdout + s.stderr };
}

async function healthy(name: string, timeoutMs = 240_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await incus(['exec', name, '--', 'appliance', 'health'], { timeoutMs: 60_000 });
    if (r.code === 0) return '';
    last = r.stdout + r.stderr;
    await sleep(2000);
  }
  return last || 'not healthy';
}

async function sh(name: string, command: string): Promise<{ code: number; out: string }> {
  const r = await incus(['exec', name, '--', 'sh', '-c', command], { timeoutMs: 120_000 });
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

async function restart(name: string): Promise<void> {
  await incusOk(['restart', name], { timeoutMs: 300_000 });
}

if (!wanted || (!CI && (!incusState.ok || !dbVersion))) {
  console.log(`settings lifecycle suite skipped: ${!wanted ? 'set APPLIANCE_REAL_BUILD=1 (CI sets CI=true)' : incusState.reason ?? 'distrobuilder is not installed'}`);
  test.skip('day two: settings that change, fail closed, one owner per volume');
} else {
  test('build.ts test postgres redis passes and removes the images Incus cached from its remote', async () => {
    const r = await runBuildTs(['test', 'postgres', 'redis', '--json', '--no-day-two'], { env });
    const out = JSON.parse(r.stdout || '{"results":[]}');
    for (const x of out.results) assert.is(x.result, 'PASS', `${x.name}: ${x.failure}\n${r.stderr.slice(-4000)}`);
    assert.is(r.code, 0, r.stderr.slice(-3000));
    const cached = await cachedFingerprints();
    for (const app of ['postgres', 'redis']) assert.not.ok(cached.includes(fingerprint(app)), `${app}'s image is no longer cached`);
  });

  const pg = `${P}pg-${id}`;
  const pgCopy = `${P}pgcopy-${id}`;
  const psql = (pw: string, sql: string) => `PGPASSWORD='${pw}' psql -X -q -h 127.0.0.1 -U app -d appdb -tAc "${sql}"`;

  test('postgres with a data volume: healthy, unknown key reported, build.ts status exits 0', async () => {
    const alias = await importImage('postgres');
    await launchWithVolume(alias, pg, '/var/lib/postgresql', {
      'user.postgres.password': 'First-Passw0rd', 'user.postgres.user': 'app', 'user.postgres.database': 'appdb',
      'user.postgres.max_connections': 'abc',
    });
    assert.is(await healthy(pg), '');
    const s = await runBuildTs(['status', pg], { env });
    assert.is(s.code, 0, s.all);
    assert.match(s.stdout, /warning: unknown key user\.postgres\.max_connections/);
    assert.match(s.stdout, /user\.postgres\.password\s+\(not on disk\)\s+applied/);
    assert.match(s.stdout, /data volume: \/var\/lib\/postgresql, owned by this instance/);
    assert.not.match(s.stdout, /First-Passw0rd/);
    assert.is((await sh(pg, psql('First-Passw0rd', 'create table t(x int); insert into t values (42); select 1'))).out, '1');
  });

  test('a bad value: postgres stays stopped, status names the setting and rule, exit 1, nothing executed; fixed + restart: applied', async () => {
    await incusOk(['config', 'set', pg, 'user.postgres.database=my db;$(touch /pwned)']);
    await restart(pg);
    const s = await settled(pg);
    assert.is(s.code, 1, s.out);
    assert.match(s.out, /user\.postgres\.database\s+.*INVALID: letters, digits, _ and -/);
    assert.match(s.out, /health: FAIL: settings not applied, the service was not started: user\.postgres\.database/);
    assert.is((await sh(pg, 'systemctl is-active postgresql@17-main')).out, 'inactive');
    assert.is((await sh(pg, 'test -e /pwned && echo yes || echo no')).out, 'no');
    const hs = await runBuildTs(['status', pg], { env });
    assert.is(hs.code, 1);
    const log = await incus(['console', pg, '--show-log'], { timeoutMs: 30_000 });
    assert.match(log.stdout, /appliance postgres: user\.postgres\.database/, 'the reason reaches the console log');
    await incusOk(['config', 'set', pg, 'user.postgres.database=appdb2']);
    await restart(pg);
    assert.is(await healthy(pg), '');
    assert.is((await sh(pg, "runuser -u postgres -- psql -X -tAc \"select count(*) from pg_database where datname = 'appdb2'\"")).out, '1', 'the changed setting took effect');
  });

  test('a password changed in SQL survives a restart and a rebuild (config unchanged)', async () => {
    assert.is((await sh(pg, "runuser -u postgres -- psql -X -qc \"ALTER ROLE app PASSWORD 'Changed-In-Sql'\" && echo ok")).out, 'ok');
    await restart(pg);
    assert.is(await healthy(pg), '');
    assert.is((await sh(pg, psql('Changed-In-Sql', 'select 1'))).out, '1', 'after restart');
    assert.is.not((await sh(pg, psql('First-Passw0rd', 'select 1'))).code, 0);
    await incusOk(['stop', pg], { timeoutMs: 120_000 });
    await incusOk(['rebuild', `${P}postgres-${id}`, pg], { timeoutMs: 300_000 });
    await incusOk(['start', pg]);
    assert.is(await healthy(pg), '');
    assert.is((await sh(pg, psql('Changed-In-Sql', 'select x from t'))).out, '42', 'after rebuild: same owner, data and password kept');
  });

  test('incus copy with the data volume: the copy refuses to start postgres and says how to copy or adopt; the original keeps its rows', async () => {
    await incusOk(['copy', pg, pgCopy], { timeoutMs: 300_000 });
    made.instances.push(pgCopy);
    await incusOk(['start', pgCopy]);
    const s = await settled(pgCopy);
    assert.is(s.code, 1, s.out);
    assert.match(s.out, new RegExp(`belongs to instance "${pg}"`));
    assert.match(s.out, /incus storage volume copy/);
    assert.match(s.out, new RegExp(`incus config set ${pgCopy} user\\.postgres\\.adopt-volume=${pg}`));
    assert.is((await sh(pgCopy, 'systemctl is-active postgresql@17-main')).out, 'inactive');
    assert.is(await healthy(pg), '', 'the original keeps running');
    assert.is((await sh(pg, psql('Changed-In-Sql', 'select x from t'))).out, '42');
    await incusOk(['delete', '--force', pgCopy]);
    made.instances = made.instances.filter((n) => n !== pgCopy);
  });

  const rd = `${P}redis-${id}`;
  const rdCopy = `${P}rdcopy-${id}`;
  test('redis: a non-numeric size keeps it stopped; config set + restart applies the new value; a copy with the volume refuses', async () => {
    const alias = await importImage('redis');
    await launchWithVolume(alias, rd, '/var/lib/redis', { 'user.redis.password': 'Redis-Passw0rd', 'user.redis.maxmemory': 'abc' });
    const s = await settled(rd);
    assert.is(s.code, 1, s.out);
    assert.match(s.out, /user\.redis\.maxmemory\s+abc\s+INVALID: a size such as/);
    assert.is((await sh(rd, 'systemctl is-active redis-server')).out, 'inactive');
    await incusOk(['config', 'set', rd, 'user.redis.maxmemory=32mb']);
    await restart(rd);
    assert.is(await healthy(rd), '');
    const cli = "redis-cli --no-auth-warning -a 'Redis-Passw0rd'";
    assert.is((await sh(rd, `${cli} config get maxmemory | tail -n 1`)).out, '33554432');
    await incusOk(['config', 'set', rd, 'user.redis.maxmemory=16mb']);
    await restart(rd);
    assert.is(await healthy(rd), '');
    assert.is((await sh(rd, `${cli} config get maxmemory | tail -n 1`)).out, '16777216', 'a changed setting takes effect at restart');
    await incusOk(['copy', rd, rdCopy], { timeoutMs: 300_000 });
    made.instances.push(rdCopy);
    await incusOk(['start', rdCopy]);
    const c = await settled(rdCopy);
    assert.is(c.code, 1, c.out);
    assert.match(c.out, new RegExp(`belongs to instance "${rd}"`));
    assert.is((await sh(rdCopy, 'systemctl is-active redis-server')).out, 'inactive');
    assert.is(await healthy(rd), '', 'the original keeps running');
    await incusOk(['delete', '--force', rdCopy]);
    made.instances = made.instances.filter((n) => n !== rdCopy);
  });

  test('redis: the upgrade (incus rebuild with the data on the volume) keeps the data, the owner and the settings', async () => {
    const cli = "redis-cli --no-auth-warning -a 'Redis-Passw0rd'";
    assert.match((await sh(rd, `${cli} set kept yes && ${cli} save`)).out, /OK/);
    await incusOk(['stop', rd], { timeoutMs: 120_000 });
    await incusOk(['rebuild', `${P}redis-${id}`, rd], { timeoutMs: 300_000 });
    await incusOk(['start', rd]);
    assert.is(await healthy(rd), '');
    assert.is((await sh(rd, `${cli} get kept`)).out, 'yes');
    assert.is((await sh(rd, `${cli} config get maxmemory | tail -n 1`)).out, '16777216');
    assert.match((await settled(rd)).out, /data volume: \/var\/lib\/redis, owned by this instance/);
  });

  const rdImp = `${P}rdimp-${id}`;
  test('redis: export + import under a new name refuses the volume; adopt-volume=<owner> takes it over with the data; the old owner is then refused', async () => {
    const file = join(tmpdir(), `${P}redis-${id}.tar.gz`);
    try {
      await incusOk(['export', rd, file, '--instance-only'], { timeoutMs: 300_000 });
      await incusOk(['import', file, rdImp], { timeoutMs: 300_000 });
    } finally {
      rmSync(file, { force: true });
    }
    made.instances.push(rdImp);
    // The import keeps the original's MAC address (and its volatile.uuid: only the name tells
    // them apart), and Incus refuses to start a second NIC with the same address.
    await incusOk(['config', 'unset', rdImp, 'volatile.eth0.hwaddr']);
    await incusOk(['start', rdImp]);
    const s = await settled(rdImp);
    assert.is(s.code, 1, s.out);
    assert.match(s.out, new RegExp(`belongs to instance "${rd}"`));
    assert.match(s.out, new RegExp(`incus config set ${rdImp} user\\.redis\\.adopt-volume=${rd}`));
    assert.is((await sh(rdImp, 'systemctl is-active redis-server')).out, 'inactive');
    // The documented adoption: the old owner stopped, the new instance names it and restarts.
    await incusOk(['stop', rd], { timeoutMs: 120_000 });
    await incusOk(['config', 'set', rdImp, `user.redis.adopt-volume=${rd}`]);
    await restart(rdImp);
    assert.is(await healthy(rdImp), '');
    const cli = "redis-cli --no-auth-warning -a 'Redis-Passw0rd'";
    assert.is((await sh(rdImp, `${cli} get kept`)).out, 'yes', 'the data is kept');
    assert.match((await settled(rdImp)).out, /data volume: \/var\/lib\/redis, owned by this instance/);
    await incusOk(['start', rd]);
    const old = await settled(rd);
    assert.is(old.code, 1, old.out);
    assert.match(old.out, new RegExp(`belongs to instance "${rdImp}"`), 'the previous owner is refused now');
  });

  /**
   * The documented upgrade of `app` on instance `name` (healthy, data volume attached), from its
   * declarations: `keptData` and `keptChanges` made, `incus rebuild` to `alias`, started: the
   * owner is recognised, the services run, every check still passes (an unchanged setting was
   * not applied again). Then `newerData` fabricated: refused with the upgrade path, services
   * stopped; undone: healthy again.
   */
  async function upgradeAndRefusal(app: Appliance, name: string, alias: string): Promise<void> {
    const started = Date.now();
    const changes = [...(app.keptData ? [app.keptData] : []), ...(app.keptChanges ?? [])];
    for (const k of changes) { const r = await sh(name, k.change); assert.is(r.code, 0, `${app.name}: ${k.name}: ${r.out}`); }
    await incusOk(['stop', name], { timeoutMs: 120_000 });
    await incusOk(['rebuild', alias, name], { timeoutMs: 300_000 });
    await incusOk(['start', name]);
    assert.is(await healthy(name), '', `${app.name} is healthy after incus rebuild`);
    const s = await settled(name);
    assert.is(s.code, 0, s.out);
    assert.match(s.out, new RegExp(`data volume: ${app.volumes![0].path}, owned by this instance`), s.out);
    for (const svc of app.services ?? []) assert.is((await sh(name, `systemctl is-active ${svc}`)).out, 'active', `${app.name}: ${svc} after the rebuild`);
    for (const k of [...(app.keptChanges ?? []), ...(app.keptData ? [app.keptData] : [])]) {
      const r = await sh(name, k.check);
      assert.is(r.code, 0, `${app.name}: ${k.name}: kept across incus rebuild\n${r.out}\n${s.out}`);
    }
    const upgraded = Date.now();
    const n = app.newerData;
    if (n) {
      const c = await sh(name, n.change);
      assert.is(c.code, 0, `${app.name}: ${n.name}: ${c.out}`);
      await restart(name);
      const r = await settled(name);
      assert.is(r.code, 1, r.out);
      assert.ok(r.out.includes(n.refusal), `${app.name}: ${n.name}: refused with "${n.refusal}"\n${r.out}`);
      assert.match(r.out, /Upgrade path: /, r.out);
      for (const svc of app.services ?? []) assert.is.not((await sh(name, `systemctl is-active ${svc}`)).out, 'active', `${app.name}: ${svc} is not started on ${n.name}`);
      const u = await sh(name, n.undo);
      assert.is(u.code, 0, u.out);
      await restart(name);
      assert.is(await healthy(name), '', `${app.name}: healthy again once ${n.name} is undone`);
    }
    console.log(`${app.name}: upgrade ${((upgraded - started) / 1000).toFixed(1)} s, newer data refused and undone ${((Date.now() - upgraded) / 1000).toFixed(1)} s`);
  }

  // The other stateful appliances, the same way for each, one instance each: launched with a
  // new custom volume at their first volume's path and their example settings; copied with the
  // volume, the copy started: it must refuse (the copy is deleted); then the upgrade and the
  // refusal of newer data on the original, from the declarations (upgradeAndRefusal).
  const STATEFUL = ['mariadb', 'valkey', 'mosquitto', 'prometheus'];
  test(`${STATEFUL.join(', ')}: incus copy with the data volume refuses to start the service in the copy and explains; incus rebuild keeps data and changes; newer data is refused`, async () => {
    const b = await runBuildTs(['build', ...STATEFUL.map((a) => `${a}:amd64`), '--plain'], { env });
    assert.is(b.code, 0, b.all.slice(-3000));
    for (const app of await loadAppliances(join(ROOT, 'appliances'), STATEFUL)) {
      const name = `${P}${app.name}-${id}`;
      const copy = `${P}${app.name}-cp-${id}`;
      const path = app.volumes![0].path;
      const alias = await importImage(app.name);
      await launchWithVolume(alias, name, path, testSettings(app));
      assert.is(await healthy(name), '', `${app.name} is healthy on a new volume`);
      await incusOk(['copy', name, copy], { timeoutMs: 300_000 });
      made.instances.push(copy);
      await incusOk(['start', copy]);
      const c = await settled(copy);
      assert.is(c.code, 1, c.out);
      assert.match(c.out, new RegExp(`the data volume at ${path} belongs to instance "${name}"`), c.out);
      assert.match(c.out, /incus storage volume copy default\/\S+ /);
      for (const svc of app.services ?? []) assert.is.not((await sh(copy, `systemctl is-active ${svc}`)).out, 'active', `${app.name}: ${svc} is not started in the copy`);
      assert.is(await healthy(name), '', `${app.name}: the original keeps running`);
      await incusOk(['delete', '--force', copy], { timeoutMs: 120_000 });
      made.instances = made.instances.filter((x) => x !== copy);
      await upgradeAndRefusal(app, name, alias);
      await incusOk(['delete', '--force', name], { timeoutMs: 120_000 });
      made.instances = made.instances.filter((x) => x !== name);
    }
  });

  test('clean-up: every d2-e- instance, volume, alias and imported image is deleted', async () => {
    for (const n of made.instances) await incus(['delete', '--force', n], { timeoutMs: 120_000 });
    for (const v of made.volumes) await incus(['storage', 'volume', 'delete', 'default', v], { timeoutMs: 60_000 });
    for (const a of made.aliases) await incus(['image', 'alias', 'delete', a]);
    for (const f of made.images) await incus(['image', 'delete', f], { timeoutMs: 60_000 });
    const left = await incusOk(['list', '--format', 'csv', '-c', 'n']);
    assert.not.match(left, new RegExp(`${P}\\w+-${id}`));
  });
}

test.run();
