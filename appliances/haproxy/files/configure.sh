#!/bin/sh
# Applies haproxy's launch-time settings at first boot (and after `incus rebuild`).
# $1 is an env file of shell-quoted KEY='value' lines: BACKENDS, BALANCE, STATS_USER,
# STATS_PASSWORD. Writes /etc/haproxy/appliance.d/50-settings.cfg, then checks the whole
# configuration. The stats password is written only as a SHA-512 crypt hash.
set -eu
. "$1"
backends=${BACKENDS:-}
balance=${BALANCE:-roundrobin}
stats_user=${STATS_USER:-admin}
stats_password=${STATS_PASSWORD:-}
unset STATS_PASSWORD
dir=/etc/haproxy/appliance.d
out=$dir/50-settings.cfg
fail() { echo "user.haproxy.$1" >&2; exit 1; }

case "$balance" in
  roundrobin | static-rr | leastconn | first | source | random) ;;
  *) fail "balance: \"$balance\" is not one of roundrobin, static-rr, leastconn, first, source, random" ;;
esac
case "$stats_user" in
  "" | *[!A-Za-z0-9._-]*) fail "stats_user: \"$stats_user\": only letters, digits and . _ -" ;;
esac

# Backend servers: HOST:PORT separated by spaces or commas; HOST an IPv4 address, a host name or
# an IPv6 address in brackets. Checked character by character: no value can add configuration.
servers=""
n=0
set -f
for s in $(printf '%s' "$backends" | tr ',' ' '); do
  case "$s" in
    \[*\]:*) host=${s%]:*}; host=${host#\[}; port=${s##*]:}
      case "$host" in "" | *[!0-9A-Fa-f:.]*) fail "backends: \"$s\": not an IPv6 address in brackets" ;; esac
      addr="[$host]" ;;
    *:*) host=${s%:*}; port=${s##*:}
      case "$host" in "" | -* | *[!A-Za-z0-9.-]*) fail "backends: \"$s\": not HOST:PORT" ;; esac
      addr=$host ;;
    *) fail "backends: \"$s\": not HOST:PORT (the port is required)" ;;
  esac
  case "$port" in "" | *[!0-9]*) fail "backends: \"$s\": bad port" ;; esac
  [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fail "backends: \"$s\": port out of range"
  n=$((n + 1))
  servers="$servers	server s$n $addr:$port check
"
done
set +f

# IPv6 listeners only where the kernel has IPv6, so haproxy never fails to start for want of it.
if [ -e /proc/net/if_inet6 ]; then bind_http=":::80 v4v6"; bind_stats=":::8404 v4v6"; else bind_http=":80"; bind_stats=":8404"; fi

install -d -m 0755 "$dir"
{
  echo "# Written at first boot from the launch-time settings (user.haproxy.*)."
  echo "frontend web"
  echo "	bind $bind_http"
  echo "	# Answered by haproxy itself: the health check does not depend on the servers."
  echo "	monitor-uri /healthz"
  echo "	default_backend servers"
  echo ""
  echo "backend servers"
  echo "	balance $balance"
  if [ -n "$servers" ]; then printf '%s' "$servers"; else echo "	# No servers: set user.haproxy.backends (until then every request gets 503)."; fi
  if [ -n "$stats_password" ]; then
    # SHA-512 crypt through libcrypt (perl-base is part of every Debian system); the password
    # reaches perl in its environment, never on a command line.
    salt=$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9./' | cut -c1-16)
    hash=$(PW=$stats_password SALT=$salt perl -e 'print crypt($ENV{PW}, "\$6\$$ENV{SALT}\$")')
    case "$hash" in '$6$'*) ;; *) echo "haproxy: could not hash the stats password" >&2; exit 1 ;; esac
    echo ""
    echo "userlist stats_users"
    echo "	user $stats_user password $hash"
    echo ""
    echo "listen stats"
    echo "	bind $bind_stats"
    echo "	stats enable"
    echo "	stats uri /"
    echo "	stats refresh 10s"
    # Server addresses on the page and in ;csv (authenticated users only).
    echo "	stats show-legends"
    echo "	http-request auth realm haproxy-stats unless { http_auth(stats_users) }"
  else
    echo ""
    echo "# No stats page on 8404: user.haproxy.stats_password is not set."
  fi
} > "$out.new"
chown root:haproxy "$out.new"
chmod 0640 "$out.new"
mv "$out.new" "$out"
install -d -m 0755 /etc/haproxy/conf.d
haproxy -c -q -f /etc/haproxy/haproxy.cfg -f "$dir" -f /etc/haproxy/conf.d
