#!/bin/sh
# Applies redis's settings at every start (run by `appliance apply`, before redis starts; redis
# does not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: PASSWORD, MAXMEMORY, and
# APPLIANCE_CHANGED (the settings changed since last applied). The ACL file is written when the
# password changed or the image's one is still there (first boot, rebuild): an ACL changed
# inside the instance (ACL SETUSER + ACL SAVE) survives restarts.
# The password is written as a SHA-256 hash into the ACL file: no plaintext on disk.
# POSIX sh: runs on Debian and Alpine.
set -eu
. "$1"
password=${PASSWORD:-}
maxmemory=${MAXMEMORY:-}
changed=${APPLIANCE_CHANGED-password maxmemory}
unset PASSWORD APPLIANCE_CHANGED
owner=redis:redis

install -d -m 0750 /etc/redis/appliance.d /var/lib/redis
# /var/lib/redis may be a fresh custom volume owned by root.
chown "$owner" /etc/redis /etc/redis/appliance.d /var/lib/redis
chmod 0750 /var/lib/redis

# A snapshot of a newer RDB format than this server reads is never loaded: redis would exit at
# start ("Can't handle RDB format version") and be restarted in a loop. RDB_MAX is the format
# redis 8.0 writes (the image test "a save writes RDB format ..." keeps it honest).
RDB_MAX=12
rdb=/var/lib/redis/dump.rdb
if [ -s "$rdb" ]; then
  magic=$(head -c 9 "$rdb" | tr -c 'A-Za-z0-9' '?')
  case $magic in
    REDIS[0-9][0-9][0-9][0-9]) version=$(printf '%s' "${magic#REDIS}" | sed 's/^0*//') ;;
    *) version='' ;;
  esac
  if [ -z "$version" ] || [ "$version" -gt "$RDB_MAX" ]; then
    what="RDB format $version"
    [ -n "$version" ] || what="not an RDB file this server knows (it starts with \"$magic\")"
    echo "$rdb is $what; this image's redis reads RDB formats up to $RDB_MAX and does not start on it." >&2
    echo "  Upgrade path: rebuild onto the redis image that wrote it, or a newer one (incus rebuild <remote>:redis <instance>); to move the data to this version, copy the keys from a server that reads it (MIGRATE, or DUMP and RESTORE)." >&2
    exit 1
  fi
fi

acl=/etc/redis/users.acl
applied=/etc/redis/.acl-applied
case " $changed " in *" password "*) rm -f "$applied" ;; esac
[ -e "$applied" ] || {
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
touch "$applied"
}

conf=/etc/redis/appliance.d/00-settings.conf
if [ -n "$maxmemory" ]; then
  case "$maxmemory" in
    *[!0-9kmgbKMGB]* | [!0-9]*) echo "user.redis.maxmemory: \"$maxmemory\" is not a size such as 256mb or 1gb" >&2; exit 1 ;;
  esac
  printf '# Written at first boot from user.redis.maxmemory.\nmaxmemory %s\nmaxmemory-policy allkeys-lru\n' "$maxmemory" > "$conf"
else
  printf '# Written at first boot: user.redis.maxmemory is not set (no memory limit).\n' > "$conf"
fi
chmod 0640 "$conf"
chown "$owner" "$conf"
