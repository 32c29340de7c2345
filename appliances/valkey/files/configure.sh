#!/bin/sh
# Applies valkey's settings at every start (run by `appliance apply`, before valkey starts; valkey
# does not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: PASSWORD, MAXMEMORY, MAXMEMORY_POLICY and
# APPLIANCE_CHANGED (the settings changed since last applied). The ACL file lives with the data
# (/var/lib/valkey/users.acl, a custom volume when attached) and is written only when the
# password changed or the file is missing (first boot, a new volume): an ACL changed inside the
# instance (ACL SETUSER + ACL SAVE) survives restarts and `incus rebuild`.
# The password is written as a SHA-256 hash into the ACL file: no plaintext on disk.
# Values are validated before they reach a file; none is ever run or expanded by the shell.
set -eu
. "$1"
password=${PASSWORD:-}
maxmemory=${MAXMEMORY:-}
policy=${MAXMEMORY_POLICY:-allkeys-lru}
changed=${APPLIANCE_CHANGED-password maxmemory maxmemory_policy}
unset PASSWORD APPLIANCE_CHANGED
owner=valkey:valkey

fail() { echo "$*" >&2; exit 1; }
# Refuse bad values before anything is written: the image's defaults stay in place.
if [ -n "$maxmemory" ]; then
  case "$maxmemory" in
    *[!0-9kmgbKMGB]* | [!0-9]*) fail "user.valkey.maxmemory: \"$maxmemory\" is not a size such as 256mb or 1gb" ;;
  esac
fi
case "$policy" in
  noeviction | allkeys-lru | allkeys-lfu | allkeys-random | volatile-lru | volatile-lfu | volatile-random | volatile-ttl) ;;
  *) fail "user.valkey.maxmemory_policy: \"$policy\" is not an eviction policy (noeviction, allkeys-lru, allkeys-lfu, ...)" ;;
esac

install -d -m 0750 /etc/valkey/appliance.d /var/lib/valkey
# /var/lib/valkey may be a fresh custom volume owned by root.
chown "$owner" /etc/valkey /etc/valkey/appliance.d /var/lib/valkey

# A snapshot of a newer RDB format than this server reads is never loaded: valkey would exit at
# start ("Can't handle RDB format version") and be restarted in a loop. RDB_MAX is the format
# valkey 8.1 writes (the image test "a save writes RDB format ..." keeps it honest).
RDB_MAX=11
rdb=/var/lib/valkey/dump.rdb
if [ -s "$rdb" ]; then
  magic=$(head -c 9 "$rdb" | tr -c 'A-Za-z0-9' '?')
  case $magic in
    REDIS[0-9][0-9][0-9][0-9]) version=$(printf '%s' "${magic#REDIS}" | sed 's/^0*//') ;;
    *) version='' ;;
  esac
  if [ -z "$version" ] || [ "$version" -gt "$RDB_MAX" ]; then
    what="RDB format $version"
    [ -n "$version" ] || what="not an RDB file this server knows (it starts with \"$magic\")"
    echo "$rdb is $what; this image's valkey reads RDB formats up to $RDB_MAX and does not start on it." >&2
    echo "  Upgrade path: rebuild onto the valkey image that wrote it, or a newer one (incus rebuild <remote>:valkey <instance>); to move the data to this version, copy the keys from a server that reads it (MIGRATE, or DUMP and RESTORE)." >&2
    exit 1
  fi
fi

acl=/var/lib/valkey/users.acl
write_acl=0
case " $changed " in *" password "*) write_acl=1 ;; esac
[ -s "$acl" ] || write_acl=1
if [ "$write_acl" = 1 ]; then
{
  if [ -n "$password" ]; then
    hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
    echo "user default on #$hash ~* &* +@all"
  else
    # No password: protected mode refuses every client that is not on the loopback interface.
    echo "user default on nopass ~* &* +@all"
  fi
  echo "user healthcheck on nopass resetkeys resetchannels -@all +ping"
} > "$acl.new"
chmod 0640 "$acl.new"
chown "$owner" "$acl.new"
mv "$acl.new" "$acl"
fi

conf=/etc/valkey/appliance.d/00-settings.conf
{
  echo "# Written at every start from user.valkey.maxmemory and user.valkey.maxmemory_policy."
  if [ -n "$maxmemory" ]; then
    printf 'maxmemory %s\n' "$maxmemory"
  else
    echo "# user.valkey.maxmemory is not set: no memory limit."
  fi
  printf 'maxmemory-policy %s\n' "$policy"
} > "$conf.new"
chmod 0640 "$conf.new"
chown "$owner" "$conf.new"
mv "$conf.new" "$conf"
