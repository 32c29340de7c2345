#!/bin/sh
# Applies memcached's launch-time settings at first boot (and after `incus rebuild`).
# $1 is an env file of shell-quoted KEY='value' lines: MEMORY, LISTEN, USER, PASSWORD.
# Every value is checked before anything is written; none is ever run or expanded by the shell
# (Debian's wrapper hands /etc/memcached.conf to a shell, so only checked values go there).
set -eu
. "$1"
memory=${MEMORY:-64}
listen=${LISTEN:-127.0.0.1}
user=${USER:-memcache}
password=${PASSWORD:-}
unset PASSWORD

fail() { echo "$*" >&2; exit 1; }
case "$memory" in
  '' | *[!0-9]* | 0*) fail "user.memcached.memory: \"$memory\" is not a whole number of MB" ;;
esac
[ "${#memory}" -le 7 ] || fail "user.memcached.memory: $memory MB is too large"
# IPv4/IPv6 addresses separated by commas; memcached itself refuses an address it cannot bind.
case "$listen" in
  '' | *[!0-9A-Fa-f.:,]* | ,* | *, | *,,*) fail "user.memcached.listen: \"$listen\" is not a comma-separated list of addresses" ;;
esac
# Each item is an address (a dot or a colon in it): "a,b" is made of hex digits, not addresses.
rest=$listen,
while [ -n "$rest" ]; do
  item=${rest%%,*}
  rest=${rest#*,}
  case "$item" in
    *.* | *:*) ;;
    *) fail "user.memcached.listen: \"$item\" is not an IPv4 or IPv6 address" ;;
  esac
done
case "$user" in
  '' | *[!A-Za-z0-9_.-]*) fail "user.memcached.user: \"$user\": letters, digits, _ . - only" ;;
esac
# memcached reads "user:password" lines: no colon, space or line break in the password.
case "$password" in
  *[[:space:]:]*) fail "user.memcached.password: no spaces, tabs, line breaks or colons" ;;
esac
[ "${#password}" -le 250 ] || fail "user.memcached.password: at most 250 characters"

auth=/etc/memcached/auth
install -d -o memcache -g memcache -m 0750 /etc/memcached
if [ -n "$password" ]; then
  (umask 077 && printf '%s:%s\n' "$user" "$password" > "$auth.new")
  chown memcache:memcache "$auth.new"
  mv "$auth.new" "$auth"
else
  rm -f "$auth"
  case "$listen" in
    127.0.0.1 | ::1 | 127.0.0.1,::1 | ::1,127.0.0.1) ;;
    *) echo "user.memcached.listen: $listen without user.memcached.password: anyone who reaches it can read and write the cache" >&2 ;;
  esac
fi

conf=/etc/memcached.conf
{
  echo "# memcached appliance: written at first boot from the launch-time settings (user.memcached.*)."
  echo "# Options of memcached, one a line (memcached -h lists them); restart memcached after a change."
  printf -- '-m %s\n' "$memory"
  echo "-p 11211"
  echo "# UDP off (amplification attacks)."
  echo "-U 0"
  echo "-u memcache"
  printf -- '-l %s\n' "$listen"
  [ -z "$password" ] || printf -- '-Y %s\n' "$auth"
  echo "-P /var/run/memcached/memcached.pid"
} > "$conf.new"
# The first-boot unit runs with umask 077; the file holds no secret (the password is in $auth).
chmod 0644 "$conf.new"
mv "$conf.new" "$conf"
