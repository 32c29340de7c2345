/**
 * The configure scripts of mariadb, haproxy, mosquitto, unbound, valkey and prometheus, run for real on the host
 * (POSIX sh) with their system paths moved into a scratch folder and the service tools replaced
 * by stubs that record what they receive: good values produce the expected configuration,
 * hostile values are refused with a message naming the `user.<app>.<key>`, exit non-zero, write
 * no configuration and execute nothing (a `$(...)` or backquoted value would create a file).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers.ts';

/** Stub commands: each logs its arguments (and stdin where it matters) under $LOG. */
const STUBS: Record<string, string> = {
  chown: ':',
  // `install -d [-o U -g G -m M] DIR...`: make the folders, ignore owners.
  install: 'dirs=""; while [ $# -gt 0 ]; do case "$1" in -o|-g|-m) shift ;; -*) ;; *) dirs="$dirs $1" ;; esac; shift; done; for d in $dirs; do mkdir -p "$d"; done',
  haproxy: 'echo "haproxy $*" >> "$LOG/calls"',
  'unbound-checkconf': 'echo "unbound-checkconf $*" >> "$LOG/calls"',
  'mosquitto_passwd': 'echo "mosquitto_passwd $*" >> "$LOG/calls"; cat > "$LOG/passwd-stdin"; echo "user:\\$7\\$101\\$stub" > "$2"',
  'mariadb-install-db': 'echo "mariadb-install-db $*" >> "$LOG/calls"',
  mariadbd: 'case "$1" in --version) echo "mariadbd  Ver 11.8.3-MariaDB-0+deb13u1 for debian-linux-gnu on x86_64 (Debian 13)"; exit 0 ;; esac; echo "mariadbd $*" >> "$LOG/calls"; exec sleep 5',
  mariadb: 'echo "mariadb $*" >> "$LOG/calls"; case " $* " in *" -e "*) echo 1 ;; *) cat >> "$LOG/sql" ;; esac',
  'mariadb-upgrade': 'echo "mariadb-upgrade $*" >> "$LOG/calls"',
};

interface Run { code: number; stderr: string; root: string; log: string; pwned: boolean }

/**
 * Runs appliances/<app>/files/configure.sh with `env` (KEY -> value) as its settings file.
 * Absolute /etc, /var and /run paths of the script are moved under a scratch root.
 */
async function configure(app: string, env: Record<string, string>, check: (r: Run) => void, setup?: (root: string) => void): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), `${app}-configure-`));
  try {
    const root = join(work, 'root');
    const bin = join(work, 'bin');
    const log = join(work, 'log');
    for (const d of [root, bin, log]) mkdirSync(d);
    for (const [name, body] of Object.entries(STUBS)) {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const script = readFileSync(join(ROOT, 'appliances', app, 'files', 'configure.sh'), 'utf8')
      .replace(/(^|[\s="'(])\/(etc|var|run)\//gm, `$1${root}/$2/`);
    writeFileSync(join(work, 'configure.sh'), script);
    for (const d of ['etc/haproxy', 'etc/mosquitto', 'etc/unbound', 'etc/mysql/mariadb.conf.d', 'etc/valkey', 'etc/redis', 'etc/prometheus', 'etc/default', 'var/lib', 'run']) mkdirSync(join(root, d), { recursive: true });
    setup?.(root);
    // The settings file as lib/compile/settings.ts writes it: KEY='value' lines.
    writeFileSync(join(work, 'env'), Object.entries(env).map(([k, v]) => `${k}='${v.replace(/'/g, `'\\''`)}'\n`).join(''));
    const r = await execa('sh', [join(work, 'configure.sh'), join(work, 'env')], {
      cwd: work, reject: false, timeout: 20_000, stdin: 'ignore',
      env: { PATH: `${bin}:${process.env.PATH}`, LOG: log, PWNED: join(work, 'pwned') },
    });
    check({ code: r.exitCode ?? 1, stderr: String(r.stderr), root, log, pwned: existsSync(join(work, 'pwned')) });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
/** Values that would run a command if the script ever let the shell evaluate them. */
const INJECT = ['$(touch "$PWNED")', '`touch "$PWNED"`'];

function refused(r: Run, key: string, generated: string): void {
  assert.is.not(r.code, 0, 'refused with a non-zero exit');
  assert.match(r.stderr, new RegExp(`user\\.${key.replace('.', '\\.')}`), `the message names user.${key}: ${r.stderr}`);
  assert.not.ok(r.pwned, 'nothing from the value was executed');
  assert.not.ok(existsSync(join(r.root, generated)), `${generated} was not written`);
}

// --- haproxy ---------------------------------------------------------------------------------
const HAPROXY_OUT = 'etc/haproxy/appliance.d/50-settings.cfg';

test('haproxy: backends, balance and a hashed stats password are written; haproxy -c runs', async () => {
  await configure('haproxy', { BACKENDS: '10.0.0.1:8080, web.example.test:80 [2001:db8::1]:443', BALANCE: 'leastconn', STATS_USER: 'ops', STATS_PASSWORD: "pa ss'word$(x)" }, (r) => {
    assert.is(r.code, 0, r.stderr);
    const cfg = read(join(r.root, HAPROXY_OUT));
    assert.match(cfg, /^\tserver s1 10\.0\.0\.1:8080 check$/m);
    assert.match(cfg, /^\tserver s2 web\.example\.test:80 check$/m);
    assert.match(cfg, /^\tserver s3 \[2001:db8::1\]:443 check$/m);
    assert.match(cfg, /^\tbalance leastconn$/m);
    assert.match(cfg, /^\tuser ops password \$6\$[A-Za-z0-9./]+\$[A-Za-z0-9./]{86}$/m);
    assert.not.ok(cfg.includes('pa ss'), 'no clear-text password');
    assert.match(read(join(r.log, 'calls')), /^haproxy -c /m);
  });
});

for (const [key, env] of [
  ['haproxy.backends', { BACKENDS: '127.0.0.1:80\n\tstats enable' }],
  ['haproxy.backends', { BACKENDS: `${INJECT[0]}:80` }],
  ['haproxy.backends', { BACKENDS: `${INJECT[1]}:80` }],
  ['haproxy.backends', { BACKENDS: '127.0.0.1' }],
  ['haproxy.backends', { BACKENDS: '127.0.0.1:99999' }],
  ['haproxy.backends', { BACKENDS: '*:80' }],
  ['haproxy.balance', { BALANCE: 'roundrobin\n\tstats enable' }],
  ['haproxy.stats_user', { STATS_USER: 'ops password x\nuser root', STATS_PASSWORD: 'x' }],
] as const) {
  test(`haproxy: refuses ${key}=${JSON.stringify(Object.values(env)[0])}`, async () => {
    await configure('haproxy', env as Record<string, string>, (r) => refused(r, key, HAPROXY_OUT));
  });
}

// --- unbound ---------------------------------------------------------------------------------
const UNBOUND_OUT = 'etc/unbound/appliance.d/50-settings.conf';

test('unbound: access, local data and forwarders are written; unbound-checkconf runs', async () => {
  await configure('unbound', { ACCESS: '192.168.0.0/16, fd00::/8', FORWARD: '192.0.2.53@5353 2001:db8::53', LOCAL_DATA: 'nas.home.arpa. A 192.168.1.10;  printer.home.arpa.   AAAA fd00::11 ;' }, (r) => {
    assert.is(r.code, 0, r.stderr);
    const conf = read(join(r.root, UNBOUND_OUT));
    assert.match(conf, /^\taccess-control: 192\.168\.0\.0\/16 allow$/m);
    assert.match(conf, /^\taccess-control: fd00::\/8 allow$/m);
    assert.match(conf, /^\tlocal-data: "nas\.home\.arpa\. A 192\.168\.1\.10"$/m);
    assert.match(conf, /^\tlocal-data: "printer\.home\.arpa\. AAAA fd00::11"$/m);
    assert.match(conf, /^forward-zone:\n\tname: "\."\n\tforward-addr: 192\.0\.2\.53@5353\n\tforward-addr: 2001:db8::53$/m);
    assert.match(read(join(r.log, 'calls')), /^unbound-checkconf/m);
  });
});

for (const [key, env] of [
  ['unbound.access', { ACCESS: '0.0.0.0/0 allow\nserver:' }],
  ['unbound.access', { ACCESS: '*' }],
  ['unbound.access', { ACCESS: `${INJECT[0]}/8` }],
  ['unbound.local_data', { LOCAL_DATA: 'x.test. A 1.2.3.4"\nforward-zone:' }],
  ['unbound.local_data', { LOCAL_DATA: 'x.test. TXT hello' }],
  ['unbound.local_data', { LOCAL_DATA: `x.test. A ${INJECT[1]}` }],
  ['unbound.local_data', { LOCAL_DATA: 'x.test. A' }],
  ['unbound.forward', { FORWARD: '192.0.2.1\nserver:' }],
  ['unbound.forward', { FORWARD: `192.0.2.1${INJECT[0]}` }],
] as const) {
  test(`unbound: refuses ${key}=${JSON.stringify(Object.values(env)[0])}`, async () => {
    await configure('unbound', env as Record<string, string>, (r) => refused(r, key, UNBOUND_OUT));
  });
}

// --- mosquitto -------------------------------------------------------------------------------
test('mosquitto: the password reaches mosquitto_passwd on stdin only', async () => {
  const password = "s3cret 'quoted' $(touch \"$PWNED\")";
  await configure('mosquitto', { USERNAME: 'sensors', PASSWORD: password }, (r) => {
    assert.is(r.code, 0, r.stderr);
    assert.not.ok(r.pwned);
    const calls = read(join(r.log, 'calls'));
    assert.match(calls, /^mosquitto_passwd -c \S+\/var\/lib\/mosquitto\/passwd\.new sensors$/m);
    assert.not.ok(calls.includes('s3cret'), 'not on a command line');
    assert.is(read(join(r.log, 'passwd-stdin')), `${password}\n${password}\n`);
    assert.match(read(join(r.root, 'var/lib/mosquitto/passwd')), /^user:\$7\$/);
  });
});

test('mosquitto: a persistence file of a newer format is refused with the upgrade path; format 6 starts', async () => {
  const db = (version: number) => (r: string) => {
    mkdirSync(join(r, 'var/lib/mosquitto'), { recursive: true });
    writeFileSync(join(r, 'var/lib/mosquitto/mosquitto.db'), Buffer.concat([Buffer.from('\0\xb5\0mosquitto db', 'latin1'), Buffer.from([0, 0, 0, 0, 0, 0, 0, version, 0])]));
  };
  await configure('mosquitto', { USERNAME: 'mqtt' }, (r) => {
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /mosquitto\.db is persistence format 99; this image's mosquitto reads formats up to 6 and does not start on it/);
    assert.match(r.stderr, /Upgrade path: /);
    assert.not.ok(existsSync(join(r.root, 'var/lib/mosquitto/passwd')), 'nothing written');
  }, db(99));
  await configure('mosquitto', { USERNAME: 'mqtt' }, (r) => assert.is(r.code, 0, r.stderr), db(6));
});

test('mosquitto: without a password the password file is empty (nobody logs in)', async () => {
  await configure('mosquitto', { USERNAME: 'mqtt' }, (r) => {
    assert.is(r.code, 0, r.stderr);
    assert.is(read(join(r.root, 'var/lib/mosquitto/passwd')), '');
    assert.not.match(read(join(r.log, 'calls')), /mosquitto_passwd/);
  });
});

for (const [key, env] of [
  ['mosquitto.username', { USERNAME: 'evil:$7$x', PASSWORD: 'x' }],
  ['mosquitto.username', { USERNAME: INJECT[0], PASSWORD: 'x' }],
  ['mosquitto.password', { USERNAME: 'sensors', PASSWORD: 'one\ntwo' }],
] as const) {
  test(`mosquitto: refuses ${key}=${JSON.stringify(Object.values(env).join(' / '))}`, async () => {
    await configure('mosquitto', env as Record<string, string>, (r) => refused(r, key, 'var/lib/mosquitto/passwd'));
  });
}

// --- mariadb ---------------------------------------------------------------------------------
test('mariadb: the account and database are made through SQL on stdin, the password as a literal', async () => {
  const password = "it's a \\ pass `word` $(touch \"$PWNED\")";
  await configure('mariadb', { USER: 'app', PASSWORD: password, DATABASE: 'appdb', BUFFER_POOL_SIZE: '64M' }, (r) => {
    assert.is(r.code, 0, r.stderr);
    assert.not.ok(r.pwned);
    const sql = read(join(r.log, 'sql'));
    assert.match(sql, /NO_BACKSLASH_ESCAPES/);
    assert.ok(sql.includes("ALTER USER `app`@'%' IDENTIFIED BY 'it''s a \\ pass `word` $(touch \"$PWNED\")';"), sql);
    assert.ok(sql.includes('GRANT ALL PRIVILEGES ON `appdb`.* TO `app`@\'%\';'), sql);
    assert.not.ok(read(join(r.log, 'calls')).includes('pass'), 'the password is on no command line');
    assert.match(read(join(r.root, 'etc/mysql/mariadb.conf.d/60-settings.cnf')), /^innodb_buffer_pool_size = 64M$/m);
  });
});

test('mariadb: on existing data the password is set only when it (or the user) changed, so one changed in SQL stays', async () => {
  const existing = (r: string) => mkdirSync(join(r, 'var/lib/mysql/mysql'), { recursive: true });
  await configure('mariadb', { USER: 'app', PASSWORD: 'pw', APPLIANCE_CHANGED: 'database' }, (r) => {
    assert.is(r.code, 0, r.stderr);
    assert.not.match(read(join(r.log, 'sql')), /ALTER USER/);
  }, existing);
  await configure('mariadb', { USER: 'app', PASSWORD: 'pw', APPLIANCE_CHANGED: 'password' }, (r) => {
    assert.is(r.code, 0, r.stderr);
    assert.match(read(join(r.log, 'sql')), /ALTER USER `app`@'%' IDENTIFIED BY 'pw';/);
  }, existing);
});

for (const [key, env] of [
  ['mariadb.user', { USER: 'app`; DROP DATABASE mysql; --', PASSWORD: 'x' }],
  ['mariadb.user', { USER: INJECT[0], PASSWORD: 'x' }],
  ['mariadb.database', { USER: 'app', PASSWORD: 'x', DATABASE: 'db`.* TO x; --' }],
  ['mariadb.user', { USER: 'app' }],
  ['mariadb.password', { PASSWORD: 'x' }],
  ['mariadb.buffer_pool_size', { BUFFER_POOL_SIZE: '64M\ninit-file=/tmp/x' }],
  ['mariadb.buffer_pool_size', { BUFFER_POOL_SIZE: '64MB' }],
] as const) {
  test(`mariadb: refuses ${key}=${JSON.stringify(Object.values(env).join(' / '))}`, async () => {
    await configure('mariadb', env as Record<string, string>, (r) => refused(r, key, 'etc/mysql/mariadb.conf.d/60-settings.cnf'));
  });
}

test('mariadb: a data directory of a newer MariaDB is refused with the upgrade path before any server starts; an older one is upgraded', async () => {
  const info = (version: string, file = 'mariadb_upgrade_info') => (r: string) => {
    mkdirSync(join(r, 'var/lib/mysql/mysql'), { recursive: true });
    writeFileSync(join(r, 'var/lib/mysql', file), version);
  };
  for (const [version, file] of [['12.0.1-MariaDB', 'mariadb_upgrade_info'], ['11.9.0-MariaDB', 'mariadb_upgrade_info'], ['99.1.0-MariaDB', 'mysql_upgrade_info']]) {
    await configure('mariadb', { APPLIANCE_CHANGED: '' }, (r) => {
      assert.is(r.code, 1, `${version}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`last upgraded by MariaDB ${version.replace(/\.\d+-MariaDB$/, '').replace('.', '\\.')} \\(${file}\\); this image runs MariaDB 11\\.8, which does not support downgrades`));
      assert.match(r.stderr, /Upgrade path: rebuild onto a mariadb image of .* mariadb-dump/);
      assert.not.match(read(join(r.log, 'calls')), /mariadbd|mariadb-install-db/, 'no server was started');
    }, info(version, file));
  }
  for (const version of ['11.8.9-MariaDB', '10.11.6-MariaDB', '11.4.2-MariaDB-log']) {
    await configure('mariadb', { APPLIANCE_CHANGED: '' }, (r) => {
      assert.is(r.code, 0, `${version}: ${r.stderr}`);
      assert.match(read(join(r.log, 'calls')), /^mariadb-upgrade /m);
    }, info(version));
  }
});

// --- valkey ----------------------------------------------------------------------------------
test('valkey: a snapshot of a newer RDB format (or not an RDB) is refused with the upgrade path; the ACL is written only when missing or changed', async () => {
  const rdb = (head: string) => (r: string) => {
    mkdirSync(join(r, 'var/lib/valkey'), { recursive: true });
    writeFileSync(join(r, 'var/lib/valkey/dump.rdb'), Buffer.concat([Buffer.from(head), Buffer.from([0xfa, 0, 1, 2])]));
  };
  for (const [head, what] of [['REDIS0012', 'is RDB format 12;'], ['VALKEY080', 'is not an RDB file this server knows']]) {
    await configure('valkey', { PASSWORD: 'pw' }, (r) => {
      assert.is(r.code, 1, r.stderr);
      assert.ok(r.stderr.includes(what), r.stderr);
      assert.match(r.stderr, /reads RDB formats up to 11 and does not start on it/);
      assert.match(r.stderr, /Upgrade path: rebuild onto the valkey image that wrote it/);
      assert.not.ok(existsSync(join(r.root, 'var/lib/valkey/users.acl')), 'nothing written');
    }, rdb(head));
  }
  await configure('valkey', { PASSWORD: 'pw', APPLIANCE_CHANGED: '' }, (r) => {
    assert.is(r.code, 0, r.stderr);
    assert.match(read(join(r.root, 'var/lib/valkey/users.acl')), /^user default on #[0-9a-f]{64} /m, 'missing: written');
  }, rdb('REDIS0011'));
  const kept = (r: string) => { rdb('REDIS0011')(r); writeFileSync(join(r, 'var/lib/valkey/users.acl'), 'user default on #changed-inside\n'); };
  await configure('valkey', { PASSWORD: 'pw', APPLIANCE_CHANGED: 'maxmemory' }, (r) => {
    assert.is(read(join(r.root, 'var/lib/valkey/users.acl')), 'user default on #changed-inside\n', 'an ACL saved inside is kept');
  }, kept);
  await configure('valkey', { PASSWORD: 'pw', APPLIANCE_CHANGED: 'password' }, (r) => {
    assert.match(read(join(r.root, 'var/lib/valkey/users.acl')), /^user default on #[0-9a-f]{64} /m, 'a changed password is written');
  }, kept);
});

test('redis: a snapshot of RDB format 13 is refused with the upgrade path; format 12 (what redis 8.0 writes) starts', async () => {
  const rdb = (head: string) => (r: string) => {
    mkdirSync(join(r, 'var/lib/redis'), { recursive: true });
    writeFileSync(join(r, 'var/lib/redis/dump.rdb'), `${head}\xfa`);
  };
  await configure('redis', { PASSWORD: 'pw' }, (r) => {
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /dump\.rdb is RDB format 13; this image's redis reads RDB formats up to 12 and does not start on it/);
    assert.match(r.stderr, /Upgrade path: /);
  }, rdb('REDIS0013'));
  await configure('redis', { PASSWORD: 'pw' }, (r) => assert.is(r.code, 0, r.stderr), rdb('REDIS0012'));
});

// --- prometheus ------------------------------------------------------------------------------
test('prometheus: a database block of another format version is refused with the upgrade path; version 1 starts', async () => {
  const block = (version: number) => (r: string) => {
    const dir = join(r, 'var/lib/prometheus/metrics2/01JF0000000000000000000000');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'meta.json'), `{\n\t"ulid": "01JF0000000000000000000000",\n\t"minTime": 1,\n\t"maxTime": 2,\n\t"stats": {},\n\t"compaction": {\n\t\t"level": 1\n\t},\n\t"version": ${version}\n}\n`);
  };
  await configure('prometheus', {}, (r) => {
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /01JF0000000000000000000000 has block format version 2 \(meta\.json\); this image's Prometheus reads format 1 only/);
    assert.match(r.stderr, /Upgrade path: rebuild onto the prometheus image that wrote it/);
    assert.not.ok(existsSync(join(r.root, 'etc/prometheus/prometheus.yml')), 'nothing written');
  }, block(2));
  await configure('prometheus', {}, (r) => assert.is(r.code, 0, r.stderr), block(1));
});

// --- postgres --------------------------------------------------------------------------------
test('postgres: a data folder of another major version is refused with the upgrade path, before anything runs', async () => {
  const work = mkdtempSync(join(tmpdir(), 'postgres-configure-'));
  try {
    const root = join(work, 'root');
    mkdirSync(join(root, 'var/lib/postgresql/16/main'), { recursive: true });
    writeFileSync(join(root, 'var/lib/postgresql/16/main/PG_VERSION'), '16\n');
    const script = readFileSync(join(ROOT, 'appliances/postgres/files/configure.sh'), 'utf8')
      .replace(/(^|[\s="'(])\/(etc|var|run)\//gm, `$1${root}/$2/`);
    writeFileSync(join(work, 'configure.sh'), script);
    writeFileSync(join(work, 'env'), "USER='app'\nAPPLIANCE_CHANGED=''\n");
    // No stubs: a command past the check (install -o postgres, initdb) would fail differently.
    const r = await execa('sh', [join(work, 'configure.sh'), join(work, 'env')], { cwd: work, reject: false, timeout: 20_000, stdin: 'ignore' });
    assert.is(r.exitCode, 1, String(r.stderr));
    assert.match(String(r.stderr), /holds a PostgreSQL 16 cluster; this image runs PostgreSQL 17 and does not start on it/);
    assert.match(String(r.stderr), /Upgrade path: .*pg_dumpall/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
