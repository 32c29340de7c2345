#!/bin/sh
# Applies caddy's launch-time settings at first boot (and after `incus rebuild`).
# $1 is an env file of shell-quoted KEY='value' lines: SITE, TLS, EMAIL.
# POSIX sh: runs on Debian and Alpine.
set -eu
. "$1"
site=${SITE:-:80}
tls=${TLS:-auto}
email=${EMAIL:-}
dir=/etc/caddy/appliance

# /var/lib/caddy and /var/www may be fresh custom volumes owned by root.
install -d -m 0750 /var/lib/caddy
chown caddy:caddy /var/lib/caddy
install -d -m 0755 /var/www/html

# Site addresses only (host names, ports, schemes, wildcards), separated by spaces or commas:
# never let a value inject Caddyfile directives.
case "$site" in
  "" | *[!A-Za-z0-9.:/*_,\ -]*) echo "user.caddy.site: invalid site address \"$site\"" >&2; exit 1 ;;
esac
case "$tls" in
  auto | internal | off) ;;
  *) echo "user.caddy.tls: \"$tls\" is not one of auto, internal, off" >&2; exit 1 ;;
esac
if [ -n "$email" ]; then
  case "$email" in
    *[!A-Za-z0-9.@+_%-]* | *@*@* | @* | *@) echo "user.caddy.email: invalid e-mail address \"$email\"" >&2; exit 1 ;;
    *@*) ;;
    *) echo "user.caddy.email: invalid e-mail address \"$email\"" >&2; exit 1 ;;
  esac
fi

{
  echo "# Written at first boot from user.caddy.email."
  [ -z "$email" ] || echo "email $email"
} > "$dir/global.caddy"

{
  echo "# Written at first boot from user.caddy.site=\"$site\" and user.caddy.tls=$tls."
  if [ "$site" = ":80" ]; then
    echo ":80 {"
    echo "	import appliance_site"
    echo "}"
  else
    addresses=$(printf '%s' "$site" | tr ',' ' ')
    if [ "$tls" = off ]; then
      # Plain HTTP: an http:// address turns automatic HTTPS off for the site.
      out=""
      # Split on spaces but never glob: a wildcard address such as * or *.example.test must
      # not expand to the names of the container's root folder.
      set -f
      for a in $addresses; do
        case "$a" in http://*) ;; https://*) a=http://${a#https://} ;; *) a=http://$a ;; esac
        out="$out${out:+, }$a"
      done
      set +f
      addresses=$out
    else
      addresses=$(printf '%s' "$addresses" | sed 's/  */, /g')
    fi
    echo "$addresses {"
    [ "$tls" != internal ] || echo "	tls internal"
    echo "	import appliance_site"
    echo "}"
    echo ""
    echo "# Requests for other host names: 404 (and /healthz for health checks)."
    echo ":80 {"
    echo "	respond /healthz \"ok\" 200"
    echo "	respond 404"
    echo "}"
  fi
} > "$dir/sites.caddy"

# Syntax check only (adapting provisions nothing: no certificates, no storage writes).
if ! err=$(caddy adapt --config /etc/caddy/Caddyfile --adapter caddyfile 2>&1 >/dev/null); then
  printf '%s\n' "$err" >&2
  exit 1
fi
