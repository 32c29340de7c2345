import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';
import { HTTP_CLIENT, httpClientFile } from '../_shared/http.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { backends: '127.0.0.1:8081 127.0.0.1:8082', balance: 'source', statsUser: 'ops', statsPassword: 'Example-Passw0rd' };

/**
 * Test fixture: two HTTP servers on loopback (a second haproxy answering `backend-a` on 8081 and
 * `backend-b` on 8082), started once, then a wait until the appliance's checks see them.
 */
const BACKENDS_UP = [
  'cfg=/run/appliance-test-backends.cfg',
  `ss -ltn | grep -q '127.0.0.1:8081 ' || { printf '%s\\n' 'defaults' '  mode http' '  timeout connect 5s' '  timeout client 10s' '  timeout server 10s'`
    + ` 'frontend a' '  bind 127.0.0.1:8081' '  http-request return status 200 content-type text/plain string backend-a'`
    + ` 'frontend b' '  bind 127.0.0.1:8082' '  http-request return status 200 content-type text/plain string backend-b' > $cfg`
    + ' && haproxy -D -q -f $cfg -p /run/appliance-test-backends.pid; }',
  `i=0; until ${HTTP_CLIENT} / >/dev/null 2>&1; do i=$((i + 1)); [ $i -lt 30 ] || break; sleep 0.5; done`,
].join('; ');

/** GET on the stats listener with HTTP basic credentials `user:password` (bash's /dev/tcp). */
function statsGet(path: string, credentials: string): string {
  return `bash -c 'exec 3<>/dev/tcp/127.0.0.1/8404 && printf "GET ${path} HTTP/1.0\\r\\nAuthorization: Basic %s\\r\\nConnection: close\\r\\n\\r\\n" "$(printf %s ${credentials} | base64 -w0)" >&3 && timeout 10 cat <&3'`;
}

/**
 * HAProxy 3.0: an HTTP load balancer on port 80 whose backend servers, balancing algorithm and
 * stats page credentials are given at launch; `/healthz` is answered by haproxy itself.
 * @param base the base layer
 */
function haproxy(base: Base) {
  return defineAppliance({
    name: 'haproxy',
    version: '3.0',
    description: 'HAProxy TCP/HTTP load balancer',
    base,
    architectures: ['amd64', 'arm64'],
    // procps: /bin/kill, which the packaged unit's ExecReload runs (minbase has none).
    packages: ['haproxy', 'procps'],
    services: ['haproxy'],
    // Started before DHCP, a named server would stay unresolved and down for good.
    waitForNetwork: 'backends given by host name are resolved once, when haproxy starts (no resolvers section)',
    files: [
      { source: 'haproxy.cfg', path: '/etc/haproxy/haproxy.cfg' },
      { source: 'default', path: '/etc/default/haproxy' },
    ],
    actions: [{
      trigger: 'post-files',
      script: `#!/bin/sh
set -eu
install -d -m 0755 /etc/haproxy/appliance.d /etc/haproxy/conf.d
# Replaced at first boot from the launch-time settings.
printf '# Written at first boot from the launch-time settings.\\n' > /etc/haproxy/appliance.d/50-settings.cfg
# Logs go to the journal through /dev/log; there is no rsyslog in the image.
rm -f /etc/rsyslog.d/49-haproxy.conf /etc/logrotate.d/haproxy
`,
    }],
    ports: [
      { port: 80, description: 'HTTP frontend, balanced over user.haproxy.backends (/healthz answered by haproxy)' },
      { port: 8404, description: 'stats page (HTTP basic authentication; only when user.haproxy.stats_password is set)' },
    ],
    volumes: [{ path: '/etc/haproxy/conf.d', description: 'your own frontends and backends (*.cfg, loaded after the generated ones)' }],
    settings: {
      backends: {
        description: 'Backend servers as HOST:PORT separated by spaces or commas (IPv6 as [ADDR]:PORT), each health-checked over TCP; empty: every request gets 503.',
        example: EXAMPLE.backends,
        type: kinds.hostports(),
      },
      balance: {
        description: 'Balancing algorithm: roundrobin, static-rr, leastconn, first, source (a client IP sticks to a server) or random.',
        default: 'roundrobin',
        example: EXAMPLE.balance,
        change: { value: 'roundrobin', check: `${BACKENDS_UP}; i=0; until ${statsGet('/;csv', `${EXAMPLE.statsUser}:${EXAMPLE.statsPassword}`)} | grep -c '^servers,s[12],.*,UP,' | grep -qx 2; do i=$((i + 1)); [ $i -lt 40 ] || exit 1; sleep 0.5; done; for i in 1 2 3 4 5 6; do ${HTTP_CLIENT} / | tail -n 1; done | sort -u | wc -l | grep -qx 2` },
        type: kinds.enum(['roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'random']),
      },
      stats_user: {
        description: 'User name of the stats page on port 8404 (letters, digits and . _ -).',
        default: 'admin',
        example: EXAMPLE.statsUser,
        type: kinds.pattern('[A-Za-z0-9._-]{1,64}', 'letters, digits and . _ - (at most 64)'),
      },
      stats_password: {
        description: 'Password of the stats page, stored as a SHA-512 crypt hash; without it there is no stats page.',
        secret: true,
        example: EXAMPLE.statsPassword,
        type: kinds.string({ maxLength: 1000 }),
      },
    },
    configure: 'configure.sh',
    health: { command: `${HTTP_CLIENT} /healthz`, timeout: 60 },
    tests: [
      {
        name: 'requests reach the backend servers given at launch',
        command: `${BACKENDS_UP}; ${HTTP_CLIENT} / | grep -qx 'backend-[ab]'`,
      },
      {
        name: 'balance source given at launch: every request of one client goes to the same server',
        command: `${BACKENDS_UP}; for i in 1 2 3 4 5 6; do ${HTTP_CLIENT} / | tail -n 1; done | sort -u | wc -l | grep -qx 1`,
      },
      {
        name: 'the stats page lists both servers given at launch, up',
        command: `${BACKENDS_UP}; i=0; until ${statsGet('/;csv', `${EXAMPLE.statsUser}:${EXAMPLE.statsPassword}`)} | grep -c '^servers,s[12],.*,UP,' | grep -qx 2; do i=$((i + 1)); [ $i -lt 20 ] || exit 1; sleep 0.5; done; `
          + `${statsGet('/;csv', `${EXAMPLE.statsUser}:${EXAMPLE.statsPassword}`)} | grep -q '127.0.0.1:8082'`,
      },
      {
        name: 'the stats page refuses a wrong password and no credentials',
        command: `${statsGet('/', `${EXAMPLE.statsUser}:wrong-password`)} | head -n 1 | grep -q ' 401 ' && [ "$(${HTTP_CLIENT} -p 8404 / | head -n 1)" = 401 ]`,
      },
      {
        name: 'systemctl reload haproxy works (the packaged unit runs /bin/kill)',
        command: 'systemctl reload haproxy && systemctl is-active -q haproxy',
      },
      {
        name: 'the stats password is stored as a SHA-512 crypt hash only',
        command: `grep -q 'user ${EXAMPLE.statsUser} password \\$6\\$' /etc/haproxy/appliance.d/50-settings.cfg && [ ! -e /etc/appliance/settings.d/stats_password ] && ! grep -rqF '${EXAMPLE.statsPassword}' /etc/haproxy /etc/appliance`,
      },
    ],
    raw: { files: [httpClientFile()] },
  });
}

/**
 * The published appliance: Debian 13 (trixie). No Alpine variant: it could not be built or tested
 * here (Alpine's mirror is unreachable).
 */
export default haproxy(debian());
