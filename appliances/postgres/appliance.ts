import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { alpine } from '../_base/alpine.ts';
import { debian } from '../_base/debian.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { password: 'Example-Passw0rd', user: 'app', database: 'appdb' };
/** The second values of day two (`test`: config set + restart). */
const CHANGED = { password: 'Changed-Passw0rd', database: 'appdb2' };

/** A role or database name: used as a quoted SQL identifier, kept to a portable subset. */
const SQL_NAME = kinds.pattern('[A-Za-z_][A-Za-z0-9_-]{0,62}', 'letters, digits, _ and -, starting with a letter or _, at most 63 characters');

/** dpkg exclusions: the JIT compiler (LLVM + Z3, ~150 MB installed) and locale sources. */
const DPKG_EXCLUDE = `# Written by the postgres appliance: keep the image small.
# The JIT provider and LLVM are never loaded (jit = off); the package state stays consistent.
path-exclude=/usr/lib/*/libLLVM*
path-exclude=/usr/lib/*/libz3.so*
path-exclude=/usr/lib/postgresql/*/lib/llvmjit*
path-exclude=/usr/lib/postgresql/*/lib/bitcode/*
# Locale sources: clusters use C.UTF-8, which is built into libc.
path-exclude=/usr/share/i18n/*
path-include=/usr/share/i18n/SUPPORTED
`;

/**
 * PostgreSQL 17: listens on all addresses, peer authentication locally, and scram-sha-256 from
 * the network only once a role has a password (user.postgres.password).
 * @param base the base layer
 */
function postgres(base: Base) {
  const onAlpine = base.name === 'alpine';
  const psql = (args: string) => `PGPASSWORD='${EXAMPLE.password}' psql -X -h 127.0.0.1 -U ${EXAMPLE.user} -d ${EXAMPLE.database} ${args}`;
  return defineAppliance({
    name: 'postgres',
    version: '17',
    description: 'PostgreSQL 17 database server',
    base,
    architectures: ['amd64', 'arm64'],
    packages: onAlpine ? ['postgresql17', 'postgresql17-client', 'su-exec'] : ['postgresql-17'],
    // Debian: the cluster unit itself, so the first-boot unit is ordered before it.
    services: onAlpine ? ['postgresql'] : ['postgresql', 'postgresql@17-main'],
    files: onAlpine
      ? [{ source: 'appliance.conf', path: '/etc/postgresql/appliance.conf' }]
      : [
          { source: 'postgresql.conf', path: '/etc/postgresql/17/main/postgresql.conf' },
          { source: 'appliance.conf', path: '/etc/postgresql/17/main/appliance.conf' },
          { source: 'pg_hba.conf', path: '/etc/postgresql/17/main/pg_hba.conf', mode: '0640' },
          { source: 'pg_ident.conf', path: '/etc/postgresql/17/main/pg_ident.conf', mode: '0640' },
          { source: 'start.conf', path: '/etc/postgresql/17/main/start.conf' },
          { source: 'pg_ctl.conf', path: '/etc/postgresql/17/main/pg_ctl.conf' },
          { source: 'environment', path: '/etc/postgresql/17/main/environment' },
        ],
    actions: onAlpine
      ? [{
          trigger: 'post-files',
          script: `#!/bin/sh
set -eu
# The OpenRC service reads its data folder from conf.d; configure creates the cluster there.
touch /etc/conf.d/postgresql
sed -i 's|^#\\?data_dir=.*|data_dir="/var/lib/postgresql/17/data"|' /etc/conf.d/postgresql
grep -q '^data_dir=' /etc/conf.d/postgresql || echo 'data_dir="/var/lib/postgresql/17/data"' >> /etc/conf.d/postgresql
`,
        }]
      : [
          {
            trigger: 'post-unpack',
            script: `#!/bin/sh\nset -eu\nmkdir -p /etc/dpkg/dpkg.cfg.d\ncat > /etc/dpkg/dpkg.cfg.d/02-appliance-postgres <<'EOF'\n${DPKG_EXCLUDE}EOF\n`,
          },
          {
            trigger: 'post-packages',
            script: `#!/bin/sh
set -eu
# The package made a cluster and a TLS key at build time: both are made per instance at first
# boot instead (no shared system identifier, no shared private key in the image).
pg_dropcluster 17 main || true
rm -rf /var/lib/postgresql/17/main /etc/postgresql/17/main
rm -f /etc/ssl/private/ssl-cert-snakeoil.key /etc/ssl/certs/ssl-cert-snakeoil.pem
`,
          },
          {
            trigger: 'post-files',
            script: `#!/bin/sh
set -eu
mkdir -p /etc/postgresql/17/main/conf.d
chown -R postgres:postgres /etc/postgresql/17/main
`,
          },
        ],
    ports: [{ port: 5432, description: 'PostgreSQL' }],
    volumes: [
      { path: '/var/lib/postgresql', description: 'the database cluster (Debian: 17/main; Alpine: 17/data)' },
    ],
    settings: {
      password: {
        description: 'Password of the role `user`. Until a role has a password, only local peer logins are accepted; once set, scram-sha-256 logins from the network.',
        secret: true,
        example: EXAMPLE.password,
        type: kinds.string({ maxLength: 1000 }),
        change: { value: CHANGED.password, check: `PGPASSWORD='${CHANGED.password}' psql -X -h 127.0.0.1 -U ${EXAMPLE.user} -d ${CHANGED.database} -tAc 'select 1' | grep -qx 1` },
      },
      user: {
        description: 'Login role to create (if missing) and give the password; `postgres` is the superuser.',
        default: 'postgres',
        example: EXAMPLE.user,
        type: SQL_NAME,
      },
      database: {
        description: 'Database to create (if missing), owned by `user`; empty: a database named like `user` (none for postgres).',
        example: EXAMPLE.database,
        type: SQL_NAME,
        change: { value: CHANGED.database, check: `${onAlpine ? 'su-exec postgres' : 'runuser -u postgres --'} psql -X -tAc "select pg_get_userbyid(datdba) from pg_database where datname = '${CHANGED.database}'" | grep -qx ${EXAMPLE.user}` },
      },
    },
    configure: 'configure.sh',
    health: { command: 'pg_isready -q -h 127.0.0.1 -p 5432', timeout: 120 },
    tests: [
      {
        name: 'the role given at launch logs in over TCP with the password given at launch',
        command: `${psql("-tAc 'select 1'")} | grep -qx 1`,
      },
      {
        name: 'the database given at launch exists and is owned by that role',
        command: `${psql(`-tAc "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"`)} | grep -qx ${EXAMPLE.user}`,
      },
      {
        name: 'a login with sslmode=require is encrypted (the certificate and key made at first boot)',
        command: `PGPASSWORD='${EXAMPLE.password}' psql -X "host=127.0.0.1 user=${EXAMPLE.user} dbname=${EXAMPLE.database} sslmode=require" -tAc 'select ssl from pg_stat_ssl where pid = pg_backend_pid()' | grep -qx t`,
      },
      {
        name: 'a wrong password is refused',
        command: `! PGPASSWORD=wrong-password psql -X -h 127.0.0.1 -U ${EXAMPLE.user} -d ${EXAMPLE.database} -c 'select 1' 2>/dev/null`,
      },
      {
        name: 'the password is stored as a scram-sha-256 verifier',
        command: `${onAlpine ? 'su-exec postgres' : 'runuser -u postgres --'} psql -X -tAc "select rolpassword like 'SCRAM-SHA-256%' from pg_authid where rolname = '${EXAMPLE.user}'" | grep -qx t`,
      },
      {
        name: 'the password is no longer on disk',
        command: '[ ! -e /etc/appliance/settings.d/password ]',
      },
    ],
  });
}

/** The published appliance: Debian 13 (trixie). */
export default postgres(debian());

/**
 * The same appliance on other bases: compiled and validated by the tests, not published.
 * Alpine is not built on our CI (its mirror is unreachable there).
 */
export const variants = { alpine: postgres(alpine()) };
