#!/bin/sh
# Applies nginx's launch-time settings at first boot. $1 is an env file of shell-quoted
# KEY='value' lines (SERVER_NAME, TLS_CERT, TLS_KEY). POSIX sh: runs on Debian and Alpine.
set -eu
. "$1"
dir=/etc/nginx/appliance
site=$dir/site.conf
names=${SERVER_NAME:-_}
cert=${TLS_CERT:-}
key=${TLS_KEY:-}
mkdir -p "$dir/site.d"
# /var/www may be a fresh custom volume: give the default site its folder.
install -d -m 0755 /var/www/html
rm -f "$dir/site.d/tls.inc" "$dir/00-catch-all.conf"

# IPv6 listeners only where the kernel has IPv6, so nginx never fails to start for want of it.
v6() { [ -e /proc/net/if_inet6 ] && printf '%s\n' "$1" || :; }

if [ -n "$cert$key" ]; then
  if [ -z "$cert" ] || [ -z "$key" ]; then
    echo "user.nginx.tls_cert and user.nginx.tls_key must be given together" >&2
    exit 1
  fi
  case "$cert" in *"-----BEGIN CERTIFICATE-----"*) ;; *) echo "user.nginx.tls_cert: not a PEM certificate" >&2; exit 1 ;; esac
  case "$key" in *"PRIVATE KEY-----"*) ;; *) echo "user.nginx.tls_key: not a PEM private key" >&2; exit 1 ;; esac
  install -d -m 0700 /etc/nginx/tls
  printf '%s\n' "$cert" > /etc/nginx/tls/cert.pem
  (umask 077 && printf '%s\n' "$key" > /etc/nginx/tls/key.pem)
  chmod 0644 /etc/nginx/tls/cert.pem
  chmod 0600 /etc/nginx/tls/key.pem
  {
    echo "# Written at first boot from user.nginx.tls_cert / tls_key."
    echo "listen 443 ssl default_server;"
    v6 "listen [::]:443 ssl default_server;"
    echo "http2 on;"
    echo "ssl_certificate /etc/nginx/tls/cert.pem;"
    echo "ssl_certificate_key /etc/nginx/tls/key.pem;"
  } > "$dir/site.d/tls.inc"
fi

if [ "$names" != "_" ]; then
  # Host names only: never let a value inject configuration.
  case "$names" in
    *[!A-Za-z0-9.*\ -]* | "") echo "user.nginx.server_name: invalid value \"$names\" (host names separated by spaces)" >&2; exit 1 ;;
  esac
  sed -i -e "s/^\([[:space:]]*server_name\) .*;/\1 $names;/" -e 's/ default_server;/;/' "$site"
  [ -f "$dir/site.d/tls.inc" ] && sed -i 's/ default_server;/;/' "$dir/site.d/tls.inc"
  {
    echo "# Written at first boot: requests for other host names than user.nginx.server_name."
    echo "server {"
    echo "	listen 80 default_server;"
    v6 "	listen [::]:80 default_server;"
    if [ -f "$dir/site.d/tls.inc" ]; then
      echo "	listen 443 ssl default_server;"
      v6 "	listen [::]:443 ssl default_server;"
      echo "	ssl_reject_handshake on;"
    fi
    echo "	server_name _;"
    printf '\t%s\n' 'location = /healthz { access_log off; default_type text/plain; return 200 "ok\n"; }'
    echo "	location / { return 404; }"
    echo "}"
  } > "$dir/00-catch-all.conf"
fi

[ -e /proc/net/if_inet6 ] || sed -i '/listen \[::\]/d' "$site"
nginx -t -q
