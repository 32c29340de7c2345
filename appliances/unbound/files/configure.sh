#!/bin/sh
# Applies unbound's launch-time settings at first boot (and after `incus rebuild`).
# $1 is an env file of shell-quoted KEY='value' lines: ACCESS, FORWARD, LOCAL_DATA.
# Writes /etc/unbound/appliance.d/50-settings.conf, then checks the whole configuration with
# unbound-checkconf. Values are checked character by character first: none can add an option.
set -eu
. "$1"
access=${ACCESS:-}
forward=${FORWARD:-}
local_data=${LOCAL_DATA:-}
dir=/etc/unbound/appliance.d
out=$dir/50-settings.conf
fail() { echo "user.unbound.$1" >&2; exit 1; }

install -d -m 0755 "$dir"
set -f
{
  echo "# Written at first boot from the launch-time settings (user.unbound.*)."
  echo "server:"
  # No IPv6 in the kernel: unbound would fail to open its IPv6 sockets.
  [ -e /proc/net/if_inet6 ] || echo "	do-ip6: no"
  for net in $(printf '%s' "$access" | tr ',' ' '); do
    case "$net" in
      */*) ;;
      *) fail "access: \"$net\" is not a network such as 192.168.0.0/16" ;;
    esac
    case "$net" in *[!0-9A-Fa-f.:/]*) fail "access: \"$net\" is not a network such as 192.168.0.0/16" ;; esac
    echo "	access-control: $net allow"
  done
  # Records separated by ";": NAME TYPE DATA, for the types a home or office network needs.
  IFS=';'
  for rec in $local_data; do
    IFS=' 	'
    # shellcheck disable=SC2086 # split the record into its fields, never globbed (set -f)
    set -- $rec
    [ "$#" -gt 0 ] || continue
    rec="$*"
    case "$rec" in *[!A-Za-z0-9._:\ -]*) fail "local_data: \"$rec\": only letters, digits, spaces and . _ : -" ;; esac
    [ "$#" -ge 3 ] || fail "local_data: \"$rec\" is not NAME TYPE DATA"
    case "$2" in
      A | AAAA | CNAME | PTR | MX | SRV) ;;
      *) fail "local_data: \"$rec\": type $2 is not one of A, AAAA, CNAME, PTR, MX, SRV" ;;
    esac
    echo "	local-data: \"$rec\""
  done
  IFS=' 	
'
  if [ -n "$forward" ]; then
    echo ""
    echo "# All names are resolved through these servers instead of from the root."
    echo "forward-zone:"
    echo "	name: \".\""
    for addr in $(printf '%s' "$forward" | tr ',' ' '); do
      # IP[@PORT][#NAME] as in unbound.conf(5).
      case "$addr" in "" | *[!0-9A-Za-z.:@#-]* | [!0-9A-Fa-f:]*) fail "forward: \"$addr\" is not an address such as 192.0.2.53 or 192.0.2.53@5353" ;; esac
      echo "	forward-addr: $addr"
    done
  fi
} > "$out.new"
set +f
chmod 0644 "$out.new"
mv "$out.new" "$out"
unbound-checkconf >/dev/null
