import { defineAppliance, kinds } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';
import { HTTP_CLIENT, httpClientFile } from '../_shared/http.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { retention: '30d', retention_size: '1GB', scrape_interval: '30s', targets: '127.0.0.1:9100' };

/**
 * dpkg exclusions: promtool (a second 85 MB Go binary, a hard dependency of the package that the
 * server never runs), the time zone database sources of moment-timezone (13 MB of JSON; the UI
 * loads moment-timezone-with-data.min.js) and JavaScript source maps. The package state stays
 * consistent; the files are just not unpacked.
 */
const DPKG_EXCLUDE = `# Written by the prometheus appliance: keep the image small.
path-exclude=/usr/bin/promtool
path-exclude=/usr/share/javascript/moment-timezone/data/*
path-exclude=/usr/share/javascript/*.map
path-exclude=/usr/share/nodejs/*.map
`;

/** An HTTP API call on 127.0.0.1:9090 (the body only). */
const api = (path: string) => `${HTTP_CLIENT} -p 9090 ${path} | tail -n +2`;
/** The query `up{job="prometheus"}`, URL-encoded; `at` appends `&time=` (a shell word). */
const upQuery = (at = '') => api(`'/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D${at ? `&time='${at}` : "'"}`);
/** A sample of 1 in a query answer. */
const ONE = `grep -q '"value":\\[[0-9.]*,"1"\\]'`;
/** Where the upgrade test notes the time of a sample it must find again (on the volume). */
const KEPT_TIME = '/var/lib/prometheus/appliance-kept-time';
/** A database block of a block format this Prometheus does not read. */
const NEWER_BLOCK = '/var/lib/prometheus/metrics2/01JF0000000000000000NEWER0';

/**
 * Prometheus 2.53 (Debian's `prometheus`, no promtool): scrapes itself and the extra targets given
 * at launch; retention time and size and the scrape interval given at launch. Debian only: no
 * Alpine variant.
 */
export default defineAppliance({
  name: 'prometheus',
  version: '2.53',
  description: 'Prometheus monitoring system and time series database',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['prometheus'],
  services: ['prometheus'],
  files: [
    { source: 'prometheus.yml', path: '/etc/prometheus/prometheus.yml' },
    { source: 'default', path: '/etc/default/prometheus' },
    { source: 'systemd-override.conf', path: '/etc/systemd/system/prometheus.service.d/appliance.conf' },
  ],
  actions: [
    {
      trigger: 'post-unpack',
      script: `#!/bin/sh\nset -eu\nmkdir -p /etc/dpkg/dpkg.cfg.d\ncat > /etc/dpkg/dpkg.cfg.d/02-appliance-prometheus <<'EOF'\n${DPKG_EXCLUDE}EOF\n`,
    },
    {
      trigger: 'post-files',
      script: '#!/bin/sh\nset -eu\nmkdir -p /etc/prometheus/conf.d /var/lib/prometheus\nchown prometheus:prometheus /var/lib/prometheus\n',
    },
  ],
  ports: [{ port: 9090, description: 'web UI and HTTP API (no authentication: publish it to trusted networks only)' }],
  volumes: [{ path: '/var/lib/prometheus', description: 'the time series database (metrics2/)' }],
  settings: {
    retention: {
      description: 'How long samples are kept (--storage.tsdb.retention.time): a duration such as 15d, 12w or 1y.',
      default: '15d',
      example: EXAMPLE.retention,
      type: kinds.duration(),
      change: { value: '20d', check: `${api('/api/v1/status/flags')} | grep -q '"storage.tsdb.retention.time":"20d"'` },
    },
    retention_size: {
      description: 'Largest size of the database before the oldest blocks go (--storage.tsdb.retention.size), such as 512MB or 10GB (powers of 1024: 1GB is 1 GiB); empty: no limit.',
      example: EXAMPLE.retention_size,
      type: kinds.size(),
      change: { value: '512MB', check: `${api('/api/v1/status/flags')} | grep -q '"storage.tsdb.retention.size":"512MiB"'` },
    },
    scrape_interval: {
      description: 'How often targets are scraped and rules evaluated (global scrape_interval), such as 15s or 1m.',
      default: '15s',
      example: EXAMPLE.scrape_interval,
      type: kinds.duration(),
      change: { value: '20s', check: `${api('/api/v1/status/config')} | grep -q 'scrape_interval: 20s'` },
    },
    targets: {
      description: 'Extra targets to scrape, host:port separated by spaces or commas (job "targets", path /metrics), e.g. node exporters. More jobs: /etc/prometheus/conf.d/*.yml.',
      example: EXAMPLE.targets,
      type: kinds.hostports(),
    },
  },
  configure: 'configure.sh',
  health: { command: `${HTTP_CLIENT} -p 9090 /-/ready`, timeout: 60 },
  keptData: {
    name: 'a sample scraped before the rebuild (queried at its time)',
    change: `for i in $(seq 1 60); do t=$(date +%s); ${upQuery('$t')} | ${ONE} && echo $t > ${KEPT_TIME} && exit 0; sleep 1; done; exit 1`,
    check: `t=$(cat ${KEPT_TIME}) && ${upQuery('$t')} | ${ONE}`,
  },
  newerData: {
    name: 'a database block of block format 2',
    change: `systemctl stop prometheus && mkdir -p ${NEWER_BLOCK} && printf '{\\n\\t"ulid": "%s",\\n\\t"minTime": 0,\\n\\t"maxTime": 1,\\n\\t"version": 2\\n}\\n' ${NEWER_BLOCK.split('/').pop()} > ${NEWER_BLOCK}/meta.json`,
    refusal: "has block format version 2 (meta.json); this image's Prometheus reads format 1 only",
    undo: `rm -rf ${NEWER_BLOCK}`,
  },
  tests: [
    {
      name: 'the retention time given at launch is applied (status/flags API)',
      command: `${api('/api/v1/status/flags')} | grep -q '"storage.tsdb.retention.time":"${EXAMPLE.retention}"'`,
    },
    {
      // Prometheus sizes are powers of two: it reads 1GB as 1 GiB and reports it so.
      name: 'the retention size given at launch is applied (1GB, reported as 1GiB by the status/flags API)',
      command: `${api('/api/v1/status/flags')} | grep -q '"storage.tsdb.retention.size":"1GiB"'`,
    },
    {
      name: 'the scrape interval given at launch is applied (status/config API)',
      command: `${api('/api/v1/status/config')} | grep -q 'scrape_interval: ${EXAMPLE.scrape_interval}'`,
    },
    {
      name: 'the extra target given at launch is scraped (targets API)',
      // Target discovery hands its first update to the scrape manager after up to 5 s.
      command: `for i in $(seq 1 30); do ${api('/api/v1/targets')} | grep -q '"scrapeUrl":"http://${EXAMPLE.targets}/metrics"' && exit 0; sleep 1; done; exit 1`,
    },
    {
      name: 'Prometheus scrapes itself: the up series of job prometheus is 1',
      command: `for i in $(seq 1 40); do ${api("'/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D'")} | grep -q '"value":\\[[0-9.]*,"1"\\]' && exit 0; sleep 1; done; exit 1`,
    },
    {
      name: 'the database is in /var/lib/prometheus/metrics2',
      command: `[ -d /var/lib/prometheus/metrics2/wal ] && ${api('/api/v1/status/flags')} | grep -q '"storage.tsdb.path":"/var/lib/prometheus/metrics2/"'`,
    },
  ],
  raw: { files: [httpClientFile()] },
});
