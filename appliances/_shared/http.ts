/**
 * A tiny HTTP client for health checks and `tests` of HTTP appliances (nginx, caddy, traefik).
 * Debian minbase images have no curl or wget: the client uses bash's /dev/tcp there, and
 * busybox wget on Alpine. Shipped as `/usr/local/bin/appliance-http` through `raw.files` so the
 * three appliances share one source; its text is part of the compiled YAML.
 *
 *     appliance-http [-H HOST] [-p PORT] PATH
 *
 * Prints the status code on the first line, then the body; exits 0 for a 2xx status, 1 for any
 * other status, 2 when no HTTP answer came. Only ever talks to 127.0.0.1.
 * @module
 */
import type { DefinitionFile } from '../../lib/distrobuilder/definition.ts';

/** Path of the client inside the image. */
export const HTTP_CLIENT = '/usr/local/bin/appliance-http';

const SCRIPT = `#!/bin/sh
# appliance-http [-H HOST] [-p PORT] PATH: GET http://127.0.0.1:PORT/PATH with Host: HOST.
# Prints the status code, then the body. Exit 0 for 2xx, 1 for another status, 2 for no answer.
set -u
host=localhost port=80
while getopts H:p: opt; do
  case "$opt" in
    H) host=$OPTARG ;;
    p) port=$OPTARG ;;
    *) echo "usage: appliance-http [-H HOST] [-p PORT] PATH" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
path=\${1:-/}
if command -v bash >/dev/null 2>&1; then
  out=$(HOST="$host" PORT="$port" REQ_PATH="$path" timeout 10 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 2
    printf "GET %s HTTP/1.0\\r\\nHost: %s\\r\\nUser-Agent: appliance-http\\r\\nConnection: close\\r\\n\\r\\n" "$REQ_PATH" "$HOST" >&3
    IFS= read -r status <&3 || exit 2
    set -- $status
    printf "%s\\n" "\${2:-000}"
    while IFS= read -r line <&3; do line=\${line%$(printf "\\r")}; [ -z "$line" ] && break; done
    cat <&3')
  rc=$?
else
  # busybox wget: headers (with -S) and errors go to stderr.
  err=$(mktemp)
  body=$(timeout 10 wget -q -S -O - --header "Host: $host" "http://127.0.0.1:$port$path" 2>"$err")
  code=$(sed -n 's/.*HTTP\\/1\\.[01] \\([0-9][0-9][0-9]\\).*/\\1/p' "$err" | tail -n 1)
  rm -f "$err"
  [ -n "$code" ] || exit 2
  out=$(printf '%s\\n%s' "$code" "$body")
  rc=0
fi
[ "$rc" -eq 0 ] || exit 2
printf '%s\\n' "$out"
case "$out" in
  2[0-9][0-9]*) exit 0 ;;
  [0-9][0-9][0-9]*) exit 1 ;;
  *) exit 2 ;;
esac
`;

/** The client as a definition file (add it to an appliance's `raw.files`). */
export function httpClientFile(): DefinitionFile {
  return { generator: 'dump', path: HTTP_CLIENT, content: SCRIPT, mode: '0755' };
}
