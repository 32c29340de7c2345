#!/bin/sh
# Applies postgres's settings at every start (run by `appliance apply`, before postgres starts;
# postgres does not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: PASSWORD, USER, DATABASE, and
# APPLIANCE_CHANGED, the settings changed since last applied (kept on the data volume).
# POSIX sh: runs on Debian and Alpine. Idempotent: an existing cluster (e.g. on a custom volume)
# is kept; roles and databases are created only when missing; the password is set only when
# it (or the role) changed, so a password altered in SQL survives restarts and rebuilds.
set -eu
. "$1"
password=${PASSWORD:-}
role=${USER:-postgres}
database=${DATABASE:-}
changed=${APPLIANCE_CHANGED-password user database}
unset PASSWORD USER DATABASE APPLIANCE_CHANGED
is_changed() { case " $changed " in *" $1 "*) return 0 ;; esac; return 1; }
major=17
[ -n "$role" ] || role=postgres
# A role named like the user gets a database of that name, as in the Docker image.
[ -n "$database" ] || { [ "$role" = postgres ] || database=$role; }

for v in "$role" ${database:+"$database"}; do
  case "$v" in
    [A-Za-z_]*) ;;
    *) echo "user.postgres.user/database: \"$v\" must start with a letter or _" >&2; exit 1 ;;
  esac
  case "$v" in
    *[!A-Za-z0-9_-]*) echo "user.postgres.user/database: \"$v\": only letters, digits, _ and -" >&2; exit 1 ;;
  esac
  [ "${#v}" -le 63 ] || { echo "user.postgres.user/database: \"$v\" is longer than 63 characters" >&2; exit 1; }
done

if [ -f /etc/alpine-release ]; then
  data=/var/lib/postgresql/17/data
  conf=$data
  bin=/usr/libexec/postgresql17
  [ -x "$bin/initdb" ] || bin=/usr/bin
  as_postgres() { su-exec postgres "$@"; }
else
  data=/var/lib/postgresql/17/main
  conf=/etc/postgresql/17/main
  bin=/usr/lib/postgresql/17/bin
  as_postgres() { runuser -u postgres -- "$@"; }
fi

# 0. A data folder of another major version is never started by this server.
for v in /var/lib/postgresql/*/main/PG_VERSION /var/lib/postgresql/*/data/PG_VERSION; do
  [ -f "$v" ] || continue
  found=$(cat "$v")
  [ "$found" = "$major" ] && continue
  echo "the data folder $(dirname "$v") holds a PostgreSQL $found cluster; this image runs PostgreSQL $major and does not start on it." >&2
  echo "  Upgrade path: launch the postgres/$found image on this volume, pg_dumpall > dump.sql, then load the dump into a postgres/$major instance on a new volume (or pg_upgrade with both versions installed)." >&2
  exit 1
done

# 1. The cluster: created when the data folder is empty (first boot, or a new empty volume).
install -d -o postgres -g postgres -m 0755 /var/lib/postgresql /var/lib/postgresql/17
install -d -o postgres -g postgres -m 2775 /var/run/postgresql
fresh=0
if [ ! -s "$data/PG_VERSION" ]; then
  fresh=1
  install -d -o postgres -g postgres -m 0700 "$data"
  # --sync-method=syncfs: one syncfs of the file system at the end instead of an fsync per file
  # (~1000 files): initdb took 3.9-4.9 s instead of 9.2-12.7 s in a launched container (btrfs
  # pool, load ~14), the largest part of the first boot. Just as durable.
  as_postgres "$bin/initdb" -D "$data" --encoding=UTF8 --locale=C.UTF-8 --data-checksums \
    --auth-local=peer --auth-host=scram-sha-256 --sync-method=syncfs >/dev/null
  if [ "$conf" = "$data" ]; then
    # Alpine keeps the configuration in the data folder: add the appliance settings.
    echo "include = '/etc/postgresql/appliance.conf'" >> "$data/postgresql.conf"
  else
    # Debian keeps it in /etc/postgresql/17/main (shipped in the image).
    rm -f "$data/postgresql.conf" "$data/pg_hba.conf" "$data/pg_ident.conf"
  fi
fi

# 2. TLS (Debian): a self-signed certificate made here, so no two instances share a key.
# An ECDSA P-256 key: 14 ms, where make-ssl-cert's RSA 2048 key took 1.2 s of the first boot.
if [ "$conf" != "$data" ] && [ ! -s /etc/ssl/private/ssl-cert-snakeoil.key ]; then
  key=/etc/ssl/private/ssl-cert-snakeoil.key
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=$(hostname)" -keyout "$key.new" -out /etc/ssl/certs/ssl-cert-snakeoil.pem 2>/dev/null)
  # As make-ssl-cert leaves it: readable by the ssl-cert group, which postgres is in.
  chown root:ssl-cert "$key.new" && chmod 0640 "$key.new" && mv "$key.new" "$key"
  chmod 0644 /etc/ssl/certs/ssl-cert-snakeoil.pem
fi

# 3. Roles and databases, through a temporary server that listens on a private socket only.
sock=$(mktemp -d /run/appliance-pg.XXXXXX)
chown postgres "$sock"
log=/var/log/postgresql/appliance-configure.log
install -d -o postgres -g postgres /var/log/postgresql
install -o postgres -g postgres -m 0640 /dev/null "$log"
as_postgres "$bin/pg_ctl" -D "$data" -w -t 120 -l "$log" \
  -o "-c config_file=$conf/postgresql.conf -c listen_addresses='' -c unix_socket_directories='$sock' -c external_pid_file=''" start >/dev/null
stop_server() { as_postgres "$bin/pg_ctl" -D "$data" -w -t 120 -m fast stop >/dev/null || :; rm -rf "$sock"; }
trap stop_server EXIT

# SQL literals and identifiers; values reach psql on stdin, never on a command line.
lit() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
ident() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
{
  line() { printf '%s\n' "$*"; }
  line "SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $(lit "$role")) AS create_role \\gset"
  line '\if :create_role'
  line "CREATE ROLE $(ident "$role") LOGIN;"
  line '\endif'
  # Only a new or changed value: a password altered in SQL is never overwritten by the old one.
  if [ -n "$password" ] && { [ "$fresh" = 1 ] || is_changed password || is_changed user; }; then
    line "ALTER ROLE $(ident "$role") WITH LOGIN PASSWORD $(lit "$password");"
  fi
  if [ -n "$database" ]; then
    line "SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = $(lit "$database")) AS create_db \\gset"
    line '\if :create_db'
    line "CREATE DATABASE $(ident "$database") OWNER $(ident "$role");"
    line '\endif'
  fi
} | as_postgres "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -d postgres -f - >/dev/null

# 4. Remote logins (scram-sha-256) once any login role has a password; peer locally otherwise.
remote=$(as_postgres "$bin/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h "$sock" -d postgres \
  -c "SELECT count(*) FROM pg_authid WHERE rolcanlogin AND rolpassword IS NOT NULL")
stop_server
trap - EXIT

hba=$conf/pg_hba.conf
{
  echo "# postgres appliance: written at first boot from the launch-time settings."
  echo "# TYPE  DATABASE        USER            ADDRESS                 METHOD"
  echo "local   all             all                                     peer"
  if [ "$remote" -gt 0 ]; then
    echo "host    all             all             0.0.0.0/0               scram-sha-256"
    echo "host    all             all             ::/0                    scram-sha-256"
  else
    echo "# No role has a password yet: no remote login (set user.postgres.password)."
  fi
} > "$hba.new"
chown postgres:postgres "$hba.new"
chmod 0640 "$hba.new"
mv "$hba.new" "$hba"
