#!/bin/sh
# Applies prometheus's launch-time settings at every start, before prometheus starts (it does
# not start when this fails).
# $1 is an env file of shell-quoted KEY='value' lines: RETENTION, RETENTION_SIZE,
# SCRAPE_INTERVAL, TARGETS. Every value is checked before anything is written; none is ever run
# or expanded by the shell (systemd splits ARGS into words itself, without a shell).
set -eu
. "$1"
retention=${RETENTION:-15d}
size=${RETENTION_SIZE:-}
interval=${SCRAPE_INTERVAL:-15s}
targets=${TARGETS:-}

fail() { echo "$*" >&2; exit 1; }
# A Prometheus duration: digits and a unit, e.g. 15d, 12w, 1y, 90m (one unit only).
duration() { # name value
  case "$2" in
    '' | 0* | *[!0-9a-z]*) fail "user.prometheus.$1: \"$2\" is not a duration such as 15d or 30s" ;;
  esac
  num=${2%%[a-z]*}
  unit=${2#"$num"}
  case "$unit" in ms | s | m | h | d | w | y) ;; *) fail "user.prometheus.$1: \"$2\" is not a duration such as 15d or 30s" ;; esac
  case "$num" in '' | *[!0-9]*) fail "user.prometheus.$1: \"$2\" is not a duration such as 15d or 30s" ;; esac
  [ "${#num}" -le 6 ] || fail "user.prometheus.$1: \"$2\" is too long"
}
duration retention "$retention"
duration scrape_interval "$interval"
if [ -n "$size" ]; then
  num=${size%%[A-Z]*}
  case "$num:${size#"$num"}" in
    [1-9]*:B | [1-9]*:KB | [1-9]*:MB | [1-9]*:GB | [1-9]*:TB | [1-9]*:PB) ;;
    *) fail "user.prometheus.retention_size: \"$size\" is not a size such as 512MB or 10GB" ;;
  esac
  case "$num" in *[!0-9]*) fail "user.prometheus.retention_size: \"$size\" is not a size such as 512MB or 10GB" ;; esac
fi
# A database of a newer format is never opened: Prometheus would exit at start ("unexpected meta
# file version") and be restarted in a loop. Every block's meta.json has "version": 1, the only
# block format this Prometheus reads (it refuses any other); the write-ahead log has no version.
for meta in /var/lib/prometheus/metrics2/*/meta.json; do
  [ -f "$meta" ] || continue
  v=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$meta" | head -n 1)
  [ "$v" = 1 ] && continue
  echo "the database block $(dirname "$meta") has block format version ${v:-unknown} (meta.json); this image's Prometheus reads format 1 only and does not start on it." >&2
  echo "  Upgrade path: rebuild onto the prometheus image that wrote it, or a newer one (incus rebuild <remote>:prometheus <instance>); or move the block out of /var/lib/prometheus/metrics2 to start without it." >&2
  exit 1
done

# host:port, split on spaces and commas without globbing; hosts are names or IPv4 addresses, or
# IPv6 addresses in brackets.
set -f
list=$(printf '%s' "$targets" | tr ',\t\n' '   ')
for t in $list; do
  case "$t" in
    *[!A-Za-z0-9.:\[\]_-]* | :* | *: ) fail "user.prometheus.targets: \"$t\" is not host:port" ;;
  esac
  port=${t##*:}
  case "$port" in '' | *[!0-9]*) fail "user.prometheus.targets: \"$t\" has no port (host:port)" ;; esac
  [ "${#port}" -le 5 ] && [ "$port" -le 65535 ] && [ "$port" -gt 0 ] || fail "user.prometheus.targets: \"$t\": bad port"
done

conf=/etc/prometheus/prometheus.yml
{
  echo "# prometheus appliance: written at first boot from user.prometheus.scrape_interval and"
  echo "# user.prometheus.targets. More jobs: conf.d/*.yml (scrape_config_files)."
  echo "global:"
  printf '  scrape_interval: %s\n' "$interval"
  printf '  evaluation_interval: %s\n' "$interval"
  echo ""
  echo "scrape_config_files:"
  echo "  - /etc/prometheus/conf.d/*.yml"
  echo ""
  echo "scrape_configs:"
  echo "  - job_name: prometheus"
  echo "    static_configs:"
  echo "      - targets: ['localhost:9090']"
  if [ -n "$list" ]; then
    echo "  - job_name: targets"
    echo "    static_configs:"
    echo "      - targets:"
    for t in $list; do printf "          - '%s'\n" "$t"; done
  fi
} > "$conf.new"
set +f
# The first-boot unit runs with umask 077: the service user must read the file.
chmod 0644 "$conf.new"
mv "$conf.new" "$conf"

{
  echo "# prometheus appliance: written at first boot from user.prometheus.retention and retention_size."
  printf 'ARGS="--storage.tsdb.retention.time=%s%s"\n' "$retention" "${size:+ --storage.tsdb.retention.size=$size}"
} > /etc/default/prometheus.new
chmod 0644 /etc/default/prometheus.new
mv /etc/default/prometheus.new /etc/default/prometheus
install -d -o prometheus -g prometheus /var/lib/prometheus
