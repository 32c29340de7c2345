#!/bin/sh
# Applies traefik's launch-time settings at first boot (and after `incus rebuild`).
# $1 is an env file of shell-quoted KEY='value' lines: EMAIL.
# POSIX sh: runs on Debian and Alpine.
set -eu
. "$1"
email=${EMAIL:-}
if [ -f /etc/traefik/traefik.yaml ]; then conf=/etc/traefik/traefik.yaml; else conf=/etc/traefik/traefik.yml; fi
if [ -n "$email" ]; then
  # An e-mail address only: never let a value inject YAML.
  case "$email" in
    *[!A-Za-z0-9.@+_%-]* | *@*@* | @* | *@) echo "user.traefik.email: invalid e-mail address \"$email\"" >&2; exit 1 ;;
    *@*) ;;
    *) echo "user.traefik.email: invalid e-mail address \"$email\"" >&2; exit 1 ;;
  esac
fi
sed -i "s/^\([[:space:]]*email:\) .*/\1 \"$email\"/" "$conf"
install -d -m 0700 /var/lib/traefik
chown traefik:traefik /var/lib/traefik
