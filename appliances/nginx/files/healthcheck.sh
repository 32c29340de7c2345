#!/bin/bash
# Health check of the nginx appliance: HTTP 200 from /healthz on 127.0.0.1, no curl needed.
exec 3<>/dev/tcp/127.0.0.1/80 || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
case "$status" in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "unhealthy: $status" >&2; exit 1 ;;
esac
