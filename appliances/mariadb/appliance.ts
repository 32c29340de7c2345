import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { user: 'app', password: 'Example-Passw0rd', database: 'appdb', bufferPool: '64M' };
/** The second values of day two (`test`: config set + restart). */
const CHANGED = { password: 'Changed-Passw0rd', database: 'appdb2', bufferPool: '32M', inside: 'Inside-Passw0rd' };
/** The version file of the data directory (written by mariadb-upgrade, read by configure.sh). */
const UPGRADE_INFO = '/var/lib/mysql/mariadb_upgrade_info';

/**
 * dpkg exclusions (about 11 MB installed): two offline tools nothing here runs (`resolveip`, which
 * mariadb-install-db skips with --force; `innochecksum`) and the error messages
 * in 40-odd languages besides English (`lc_messages` stays en_US).
 */
const DPKG_EXCLUDE = `# Written by the mariadb appliance: keep the image small.
path-exclude=/usr/bin/resolveip
path-exclude=/usr/bin/innochecksum
path-exclude=/usr/share/mariadb/*/errmsg.sys
path-include=/usr/share/mariadb/english/errmsg.sys
`;

/** A client command for the tests: the example account over TCP, password from the environment. */
const asUser = (password: string, sql: string) => `MYSQL_PWD='${password}' mariadb --protocol=tcp -h 127.0.0.1 -u ${EXAMPLE.user} -N -B -e "${sql}"`;

/**
 * MariaDB 11.8 from Debian's `mariadb-server-core` and `mariadb-client-core` only: the server,
 * `mariadb-install-db`, `mariadb-upgrade` and the `mariadb` client, without the Perl, Galera,
 * rsync and client tools `mariadb-server` pulls in. The data directory is made at first boot
 * (no build-time system tables in the image); root logs in through the unix socket only.
 * @param base the base layer (Debian: the package split above is Debian's)
 */
function mariadb(base: Base) {
  return defineAppliance({
    name: 'mariadb',
    version: '11.8',
    description: 'MariaDB relational database server',
    base,
    architectures: ['amd64', 'arm64'],
    packages: ['mariadb-server-core', 'mariadb-client-core'],
    services: ['mariadb'],
    files: [
      { source: 'mariadb.service', path: '/etc/systemd/system/mariadb.service' },
      { source: 'appliance.cnf', path: '/etc/mysql/mariadb.conf.d/50-appliance.cnf' },
    ],
    actions: [{
      trigger: 'post-unpack',
      script: `#!/bin/sh\nset -eu\nmkdir -p /etc/dpkg/dpkg.cfg.d\ncat > /etc/dpkg/dpkg.cfg.d/02-appliance-mariadb <<'EOF'\n${DPKG_EXCLUDE}EOF\n`,
    }, {
      trigger: 'post-packages',
      script: `#!/bin/sh
set -eu
# mariadb-server-core makes no account or data directory (mariadb-server would): the account is
# made here, the data directory at first boot by the configure script.
getent group mysql >/dev/null || groupadd --system mysql
getent passwd mysql >/dev/null || useradd --system --gid mysql --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin mysql
install -d -o mysql -g mysql -m 0750 /var/lib/mysql
install -d -m 0755 /etc/mysql/mariadb.conf.d /etc/mysql/conf.d
`,
    }],
    ports: [{ port: 3306, description: 'MariaDB / MySQL protocol' }],
    volumes: [{ path: '/var/lib/mysql', description: 'the data directory (system tables, databases, InnoDB logs)' }],
    settings: {
      user: {
        description: 'Account to create (if missing) with the password below, allowed from any address; letters, digits and _. Without it only root exists, and root logs in through the unix socket only.',
        example: EXAMPLE.user,
        type: kinds.pattern('[A-Za-z0-9_]{1,80}', 'letters, digits and _ (at most 80)'),
      },
      password: {
        description: 'Password of `user`, set when new or changed (a password changed in SQL stays across restarts and rebuilds); stored by MariaDB as a hash.',
        secret: true,
        example: EXAMPLE.password,
        type: kinds.string({ maxLength: 1000 }),
        change: { value: CHANGED.password, check: `${asUser(CHANGED.password, 'SELECT 1')} | grep -qx 1` },
      },
      database: {
        description: 'Database to create (if missing) on which `user` gets all privileges; letters, digits and _.',
        example: EXAMPLE.database,
        type: kinds.pattern('[A-Za-z0-9_]{1,64}', 'letters, digits and _ (at most 64)'),
        change: { value: CHANGED.database, check: `${asUser(CHANGED.password, `CREATE TABLE ${CHANGED.database}.t (x INT); SELECT COUNT(*) FROM ${CHANGED.database}.t`)} | grep -qx 0` },
      },
      buffer_pool_size: {
        description: 'InnoDB buffer pool size such as 256M or 2G (innodb_buffer_pool_size); empty: the server default (128M).',
        example: EXAMPLE.bufferPool,
        change: { value: CHANGED.bufferPool, check: `mariadb -N -B -e 'SELECT @@innodb_buffer_pool_size' | grep -qx 33554432` },
        type: kinds.pattern('[0-9]+[KMGkmg]?', 'a size such as 256M or 2G (K, M or G, no B)'),
      },
    },
    configure: 'configure.sh',
    health: { command: "mariadb -N -B -e 'SELECT 1' | grep -qx 1", timeout: 120 },
    keptChanges: [{
      name: 'a password changed inside with ALTER USER',
      change: `mariadb -e "ALTER USER '${EXAMPLE.user}'@'%' IDENTIFIED BY '${CHANGED.inside}'" && ${asUser(CHANGED.inside, 'SELECT 1')} | grep -qx 1`,
      check: `${asUser(CHANGED.inside, 'SELECT 1')} | grep -qx 1`,
    }],
    keptData: {
      name: 'a row in the database given at launch',
      change: `${asUser(EXAMPLE.password, `CREATE TABLE ${EXAMPLE.database}.kept (x INT); INSERT INTO ${EXAMPLE.database}.kept VALUES (7); SELECT x FROM ${EXAMPLE.database}.kept`)} | grep -qx 7`,
      check: `mariadb -N -B -e 'SELECT x FROM ${EXAMPLE.database}.kept' | grep -qx 7`,
    },
    newerData: {
      name: 'a data directory last upgraded by MariaDB 99.1',
      change: `systemctl stop mariadb && [ -s ${UPGRADE_INFO} ] && printf '99.1.0-MariaDB' > ${UPGRADE_INFO}`,
      refusal: 'was last upgraded by MariaDB 99.1 (mariadb_upgrade_info); this image runs MariaDB 11.8, which does not support downgrades',
      // An older version instead of the original: the next start runs mariadb-upgrade for real.
      undo: `printf '10.11.6-MariaDB' > ${UPGRADE_INFO}`,
    },
    tests: [
      {
        name: 'the user given at launch logs in over TCP with the password given at launch',
        command: `${asUser(EXAMPLE.password, 'SELECT CURRENT_USER()')} | grep -qx '${EXAMPLE.user}@%'`,
      },
      {
        name: 'the database given at launch exists and the user can create tables in it',
        command: `${asUser(EXAMPLE.password, `CREATE TABLE ${EXAMPLE.database}.t (x INT); INSERT INTO ${EXAMPLE.database}.t VALUES (42); SELECT x FROM ${EXAMPLE.database}.t`)} | grep -qx 42`,
      },
      {
        name: 'the user has no privilege outside its database',
        command: `${asUser(EXAMPLE.password, 'SELECT COUNT(*) FROM mysql.global_priv')} 2>&1 | grep -q 'denied'`,
      },
      {
        name: 'a wrong password is refused',
        command: `${asUser('wrong-password', 'SELECT 1')} 2>&1 | grep -q 'Access denied'`,
      },
      {
        name: 'root has no login over TCP',
        command: `mariadb --protocol=tcp -h 127.0.0.1 -u root -N -e 'SELECT 1' 2>&1 | grep -q 'Access denied'`,
      },
      {
        name: 'the appliance state folder in the data directory is not a database (ignore-db-dirs)',
        command: `[ -d /var/lib/mysql/.appliance ] && ! mariadb -N -B -e 'SHOW DATABASES' | grep -q appliance`,
      },
      {
        name: 'buffer_pool_size given at launch is applied',
        command: `mariadb -N -B -e 'SELECT @@innodb_buffer_pool_size' | grep -qx 67108864`,
      },
      {
        name: 'the password is no longer on disk in clear text',
        command: `[ ! -e /etc/appliance/settings.d/password ] && ! grep -rqaF '${EXAMPLE.password}' /etc/mysql /etc/appliance /var/lib/mysql`,
      },
    ],
  });
}

/**
 * The published appliance: Debian 13 (trixie). No Alpine variant: it could not be built or tested
 * here (Alpine's mirror is unreachable), and its packages split differently.
 */
export default mariadb(debian());
