#!/bin/sh
# Applies squid's launch-time settings at first boot (and after `incus rebuild`).
# $1 is an env file of shell-quoted KEY='value' lines: ALLOWED_NETWORKS, CACHE_SIZE, CACHE_MEM.
# Every value is checked before it is written; none is ever run or expanded by the shell. On a
# bad value nothing is changed: squid starts with the image's defaults (the private ranges).
set -eu
. "$1"
networks=${ALLOWED_NETWORKS-}
cache_size=${CACHE_SIZE:-1024}
cache_mem=${CACHE_MEM:-256}
dir=/etc/squid/appliance

fail() { echo "$*" >&2; exit 1; }
number() { # name value max
  case "$2" in
    '' | *[!0-9]* | 0?*) fail "user.squid.$1: \"$2\" is not a whole number of MB" ;;
  esac
  [ "${#2}" -le 7 ] && [ "$2" -le "$3" ] || fail "user.squid.$1: $2 MB is more than $3 MB"
}
number cache_size "$cache_size" 1048576
number cache_mem "$cache_mem" 65536
[ "$cache_mem" -gt 0 ] || fail "user.squid.cache_mem: must be at least 1 MB"

# Addresses and CIDR ranges only (IPv4 or IPv6), split on spaces and commas without globbing.
set -f
list=$(printf '%s' "$networks" | tr ',\t\n' '   ')
count=0
for n in $list; do
  case "$n" in
    *[!0-9A-Fa-f.:/]* | */*/* | /* | */) fail "user.squid.allowed_networks: \"$n\" is not an address or CIDR range" ;;
    *.* | *:*) ;;
    *) fail "user.squid.allowed_networks: \"$n\" is not an address or CIDR range" ;;
  esac
  count=$((count + 1))
done
set +f
[ "$count" -gt 0 ] || fail "user.squid.allowed_networks: no network given (the proxy would refuse everyone)"

install -d -m 0755 "$dir"
for f in allowed-networks cache.conf; do cp -p "$dir/$f" "$dir/$f.orig"; done
restore() { for f in allowed-networks cache.conf; do mv -f "$dir/$f.orig" "$dir/$f"; done; }
{
  echo "# Written at first boot from user.squid.allowed_networks."
  set -f
  for n in $list; do printf '%s\n' "$n"; done
  set +f
} > "$dir/allowed-networks"
{
  echo "# Written at first boot from user.squid.cache_size and user.squid.cache_mem."
  printf 'cache_mem %s MB\n' "$cache_mem"
  if [ "$cache_size" -gt 0 ]; then
    printf 'cache_dir ufs /var/spool/squid %s 16 256\n' "$cache_size"
  else
    echo "# user.squid.cache_size is 0: memory cache only."
  fi
} > "$dir/cache.conf"
# The first-boot unit runs with umask 077: squid re-reads them as its own user on reconfigure.
chmod 0644 "$dir/allowed-networks" "$dir/cache.conf"
# squid has the last word on the addresses (e.g. 10.0.0.300 or /33): keep the old files if it refuses.
if ! squid -k parse -f /etc/squid/squid.conf >/dev/null 2>&1 || squid -k parse -f /etc/squid/squid.conf 2>&1 | grep -q 'ERROR\|FATAL'; then
  restore
  fail "user.squid.allowed_networks: squid refuses \"$networks\" (squid -k parse)"
fi
rm -f "$dir"/*.orig
install -d -o proxy -g proxy -m 0750 /var/spool/squid /var/log/squid
