#!/bin/sh
# Applies mariadb's settings at every start (run by `appliance apply`, before mariadb starts;
# mariadb does not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: USER, PASSWORD, DATABASE, BUFFER_POOL_SIZE,
# and APPLIANCE_CHANGED (the settings changed since last applied, kept with the data).
# Idempotent: an existing data directory (e.g. on a custom volume) is kept and upgraded; the
# account and database are created only when missing; the password is set when new or changed,
# so a password changed in SQL survives restarts and rebuilds.
set -eu
. "$1"
user=${USER:-}
password=${PASSWORD:-}
database=${DATABASE:-}
pool=${BUFFER_POOL_SIZE:-}
changed=${APPLIANCE_CHANGED-user password database buffer_pool_size}
unset USER PASSWORD DATABASE BUFFER_POOL_SIZE APPLIANCE_CHANGED
is_changed() { case " $changed " in *" $1 "*) return 0 ;; esac; return 1; }

fail() { echo "user.mariadb.$1" >&2; exit 1; }
# Names become SQL identifiers in backquotes: letters, digits and _ only, so no value can end
# the quoting. The password never reaches a command line or the shell (stdin, SQL literal).
check_name() { # key value max-length
  [ -n "$2" ] || return 0
  case "$2" in *[!A-Za-z0-9_]*) fail "$1: \"$2\": only letters, digits and _" ;; esac
  [ "${#2}" -le "$3" ] || fail "$1: \"$2\" is longer than $3 characters"
}
check_name user "$user" 80
check_name database "$database" 64
if [ -n "$user" ] && [ -z "$password" ]; then fail "user: \"$user\" needs user.mariadb.password"; fi
if [ -n "$password" ] && [ -z "$user" ]; then fail "password: given without user.mariadb.user"; fi
if [ -n "$database" ] && [ -z "$user" ]; then fail "database: given without user.mariadb.user (its owner)"; fi
case "$pool" in
  "") ;;
  *[!0-9KMGkmg]* | [!0-9]* | *[KMGkmg]?*) fail "buffer_pool_size: \"$pool\" is not a size such as 256M or 2G" ;;
esac

data=/var/lib/mysql
conf=/etc/mysql/mariadb.conf.d/60-settings.cnf
install -d -o mysql -g mysql -m 0750 "$data"
chown mysql:mysql "$data"

{
  echo "# Written at first boot from the launch-time settings (user.mariadb.*)."
  echo "[mariadbd]"
  [ -z "$pool" ] || echo "innodb_buffer_pool_size = $pool"
} > "$conf.new"
chmod 0644 "$conf.new"
mv "$conf.new" "$conf"

# 0. A data directory of a newer MariaDB is never started by this server: MariaDB does not
# support downgrades (system tables, InnoDB redo log and undo formats may be newer). The version
# that last upgraded the directory is in mariadb_upgrade_info (mysql_upgrade_info before 11.x).
# An older one is what step 3 (mariadb-upgrade) handles.
server=$(mariadbd --version | sed -n 's/.* Ver \([0-9][0-9]*\.[0-9][0-9]*\)\..*/\1/p')
for info in "$data/mariadb_upgrade_info" "$data/mysql_upgrade_info"; do
  [ -s "$info" ] && [ -n "$server" ] || continue
  found=$(sed -n '1s/^\([0-9][0-9]*\.[0-9][0-9]*\)\..*/\1/p' "$info")
  [ -n "$found" ] || break
  if [ "${found%.*}" -gt "${server%.*}" ] || { [ "${found%.*}" -eq "${server%.*}" ] && [ "${found#*.}" -gt "${server#*.}" ]; }; then
    echo "the data directory $data was last upgraded by MariaDB $found ($(basename "$info")); this image runs MariaDB $server, which does not support downgrades, and does not start on it." >&2
    echo "  Upgrade path: rebuild onto a mariadb image of $found or newer (incus rebuild <remote>:mariadb <instance>); to move the data to $server, mariadb-dump it on a $found server and load the dump on a new volume." >&2
    exit 1
  fi
  break
done

# 1. The system tables: made when the data directory is empty (first boot, or a new volume).
# --skip-name-resolve: grants by address, never by host name; --force: skip the host name
# lookup through resolveip (left out of the image: nothing here resolves names).
fresh=0
if [ ! -d "$data/mysql" ]; then
  fresh=1
  mariadb-install-db --user=mysql --datadir="$data" --skip-test-db --skip-name-resolve --force \
    --auth-root-authentication-method=socket >/dev/null
fi

# 2. A temporary server without networking, on a private socket.
run=$(mktemp -d /run/appliance-mariadb.XXXXXX)
chown mysql:mysql "$run"
sock=$run/mysqld.sock
# Started as root with --user: mariadbd drops privileges itself, and $! is the server's pid.
mariadbd --user=mysql --skip-networking --socket="$sock" --pid-file="$run/pid" \
  --log-error="$run/error.log" &
pid=$!
stop_server() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" || :
  fi
  rm -rf "$run"
}
trap stop_server EXIT
i=0
until mariadb --protocol=socket -S "$sock" -N -e 'SELECT 1' >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 120 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "mariadb: the temporary server did not start:" >&2
    cat "$run/error.log" >&2 || :
    exit 1
  fi
  sleep 0.5
done

# 3. System tables of an older version (a volume from an older image, as step 0 allows):
# upgraded in place; mariadb-upgrade then records this version in mariadb_upgrade_info.
mariadb-upgrade --protocol=socket -S "$sock" --silent >/dev/null

# 4. The account and its database. NO_BACKSLASH_ESCAPES: in a string literal only ' is special,
# and it is doubled.
if [ -n "$user" ]; then
  lit=$(printf '%s' "$password" | sed "s/'/''/g")
  {
    echo "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES');"
    echo "CREATE USER IF NOT EXISTS \`$user\`@'%';"
    if [ "$fresh" = 1 ] || is_changed password || is_changed user; then
      printf "ALTER USER \`%s\`@'%%' IDENTIFIED BY '%s';\n" "$user" "$lit"
    fi
    if [ -n "$database" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"
      echo "GRANT ALL PRIVILEGES ON \`$database\`.* TO \`$user\`@'%';"
    fi
  } | mariadb --protocol=socket -S "$sock"
fi
stop_server
trap - EXIT
