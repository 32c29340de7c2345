#!/bin/sh
# Applies nginx's launch-time settings. $1 is an env file of shell-quoted KEY='value' lines.
set -eu
. "$1"
if [ -n "${SERVER_NAME:-}" ] && [ "$SERVER_NAME" != "_" ]; then
  # Only letters, digits, dots, dashes, stars and spaces: never let a value inject config.
  case "$SERVER_NAME" in
    *[!A-Za-z0-9.*\ -]*) echo "user.nginx.server_name: invalid value" >&2; exit 1 ;;
  esac
  sed -i "s/^\(\s*server_name\) .*;/\1 $SERVER_NAME;/" /etc/nginx/sites-available/default
fi
