import { defineAppliance, kinds } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';
import { withoutPerlModules } from '../_shared/perl.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { allowed_networks: '192.168.0.0/16 127.0.0.1/32', cache_size: '2048', cache_mem: '64' };

/** The private ranges allowed when user.squid.allowed_networks is not given. */
const PRIVATE_RANGES = '10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 fc00::/7';

/** Port of the cache manager (health check, statistics): 127.0.0.1 only, never published. */
const MANAGER_PORT = 3129;

/** The cache manager, as the health check and the tests query it. */
const mgr = (page: string) => `squidclient -h 127.0.0.1 -p ${MANAGER_PORT} mgr:${page}`;

/**
 * A throw-away origin web server on 127.0.0.1:8081 inside the container (systemd-socket-activate
 * runs one shell per connection), around a check: the Internet is not reachable from our test
 * machines. It answers a cacheable page whose body is `appliance-origin`.
 */
const withOrigin = (check: string) => [
  "systemd-socket-activate -l 127.0.0.1:8081 -a --inetd /bin/sh -c 'sed -n \"/^\\r$/q\"; d=$(date -Ru); printf \"HTTP/1.0 200 OK\\r\\nDate: %s GMT\\r\\nContent-Type: text/plain\\r\\nCache-Control: max-age=300\\r\\nContent-Length: 16\\r\\n\\r\\nappliance-origin\" \"${d% +0000}\"' >/dev/null 2>&1 &",
  'origin=$!; sleep 0.5;',
  `(${check}); rc=$?; kill $origin; exit $rc`,
].join(' ');

/** A GET through the proxy from the client address `from`, printing the whole answer. */
const viaProxy = (from: string, path: string) => `squidclient -l ${from} -h 127.0.0.1 -p 3128 http://127.0.0.1:8081${path}`;

/**
 * Squid 6: a caching forward proxy for the networks given at launch (the private ranges by
 * default, never the world), a disk cache of the size given at launch, and the cache manager on
 * 127.0.0.1:3129 only. Debian only: no Alpine variant.
 */
export default defineAppliance({
  name: 'squid',
  version: '6.13',
  description: 'Squid caching forward proxy',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  // squidclient: the health check, the cache manager and the tests (300 KB).
  packages: ['squid', 'squidclient'],
  services: ['squid'],
  files: [
    { source: 'squid.conf', path: '/etc/squid/squid.conf' },
    { source: 'allowed-networks', path: '/etc/squid/appliance/allowed-networks' },
    { source: 'cache.conf', path: '/etc/squid/appliance/cache.conf' },
    { source: 'systemd-override.conf', path: '/etc/systemd/system/squid.service.d/appliance.conf' },
  ],
  // squid depends on perl (libdbi-perl) for its Perl helpers (DB authentication, log daemons),
  // which this appliance does not configure.
  actions: [withoutPerlModules()],
  ports: [
    { port: 3128, description: 'HTTP proxy (clients of user.squid.allowed_networks only)' },
    { port: MANAGER_PORT, description: 'cache manager (squidclient mgr:info)', localOnly: true },
  ],
  volumes: [
    { path: '/var/spool/squid', description: 'the disk cache (cache_dir, user.squid.cache_size MB)' },
  ],
  settings: {
    allowed_networks: {
      description: 'Client networks allowed to use the proxy: addresses or CIDR ranges, separated by spaces or commas. Incus proxy devices connect from 127.0.0.1: add 127.0.0.1/32 only when the host port is not public.',
      default: PRIVATE_RANGES,
      example: EXAMPLE.allowed_networks,
      type: kinds.cidrs(),
    },
    cache_size: {
      description: 'Size of the disk cache in /var/spool/squid, in MB; 0: memory only.',
      default: '1024',
      example: EXAMPLE.cache_size,
      type: kinds.integer({ min: 0, max: 1048576 }),
      change: { value: '1024', check: `${mgr('storedir')} | grep -Eq 'Maximum Swap Size *: *1048576 KB'` },
    },
    cache_mem: {
      description: 'Memory for hot objects (cache_mem), in MB.',
      default: '256',
      example: EXAMPLE.cache_mem,
      type: kinds.integer({ min: 1, max: 1048576 }),
      change: { value: '32', check: "journalctl -b -u squid | grep -Eq 'Max Mem +size: 32768 KB'" },
    },
  },
  configure: 'configure.sh',
  health: { command: `${mgr('info')} | grep -q '^Squid Object Cache'`, timeout: 60 },
  tests: [
    {
      name: 'a client of an allowed network (127.0.0.1/32) gets the page through the proxy',
      command: withOrigin(`${viaProxy('127.0.0.1', '/allowed')} | grep -qx appliance-origin`),
    },
    {
      name: 'a client outside the allowed networks (127.0.0.2) is denied',
      command: withOrigin(`${viaProxy('127.0.0.2', '/denied')} | grep -q 'X-Squid-Error: ERR_ACCESS_DENIED'`),
    },
    {
      name: 'a second request is served from the cache',
      command: withOrigin(`${viaProxy('127.0.0.1', '/cached')} >/dev/null && ${viaProxy('127.0.0.1', '/cached')} | grep -q '^Cache-Status: [^;]*;hit'`),
    },
    {
      name: 'the disk cache has the size given at launch (2048 MB)',
      // Written by configure.sh, and what squid reports it uses: 2048 MB = 2097152 KB.
      command: `grep -qx 'cache_dir ufs /var/spool/squid ${EXAMPLE.cache_size} 16 256' /etc/squid/appliance/cache.conf && ${mgr('storedir')} | grep -Eq 'Maximum Swap Size *: *${Number(EXAMPLE.cache_size) * 1024} KB'`,
    },
    {
      name: 'cache_mem given at launch is applied (64 MB, as squid reported at start)',
      command: "journalctl -b -u squid | grep -Eq 'Max Mem +size: 65536 KB'",
    },
    {
      name: 'the cache manager is not reachable through the proxy port',
      command: `squidclient -h 127.0.0.1 -p 3128 mgr:info | grep -q 'X-Squid-Error: ERR_ACCESS_DENIED'`,
    },
  ],
});
