import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/**
 * Values of the launch-time settings used by the `test` verb (and the README examples).
 * The forwarders are documentation addresses (RFC 5737/3849): the test only asks for local data,
 * so nothing leaves the container.
 */
const EXAMPLE = {
  access: '192.168.0.0/16 127.0.0.2/32',
  forward: '192.0.2.53 2001:db8::53',
  localData: 'nas.home.arpa. A 192.168.1.10; printer.home.arpa. A 192.168.1.11',
};

/** dpkg exclusions: unbound links libpython3.13 for its optional Python module, never loaded here. */
const DPKG_EXCLUDE = `# Written by the unbound appliance: keep the image small.
# unbound links libpython3.13 (its python module), which is never configured: the library stays,
# the Python standard library it would import does not.
path-exclude=/usr/lib/python3.13/*
`;

/**
 * Unbound 1.26: a validating, caching DNS resolver on port 53 (UDP and TCP) of every address.
 * Clients: loopback plus the networks given at launch; forwarders and local records given at
 * launch; `unbound-control` on a root-only unix socket.
 * @param base the base layer
 */
function unbound(base: Base) {
  return defineAppliance({
    name: 'unbound',
    version: '1.26',
    description: 'Unbound validating, caching DNS resolver',
    base,
    architectures: ['amd64', 'arm64'],
    // procps: /bin/kill, which the packaged unit's ExecReload runs (minbase has none).
    packages: ['unbound', 'dns-root-data', 'ldnsutils', 'procps'],
    services: ['unbound'],
    files: [
      { source: 'unbound.conf', path: '/etc/unbound/unbound.conf' },
      { source: 'default', path: '/etc/default/unbound' },
      { source: 'resolved.conf', path: '/etc/systemd/resolved.conf.d/appliance-unbound.conf' },
      { source: 'resolv.conf', path: '/etc/unbound/resolv.conf' },
      { source: 'tmpfiles.conf', path: '/etc/tmpfiles.d/appliance-unbound-resolv.conf' },
    ],
    actions: [
      {
        trigger: 'post-unpack',
        script: `#!/bin/sh\nset -eu\nmkdir -p /etc/dpkg/dpkg.cfg.d\ncat > /etc/dpkg/dpkg.cfg.d/02-appliance-unbound <<'EOF'\n${DPKG_EXCLUDE}EOF\n`,
      },
      {
        trigger: 'post-files',
        script: `#!/bin/sh
set -eu
# The packaged snippets are replaced by unbound.conf (the auto-trust-anchor one would clash with
# the static anchor); /etc/unbound/unbound.conf.d is yours.
rm -f /etc/unbound/unbound.conf.d/*.conf
install -d -m 0755 /etc/unbound/appliance.d /etc/unbound/unbound.conf.d
# Replaced at first boot from the launch-time settings.
printf '# Written at first boot from the launch-time settings.\\n' > /etc/unbound/appliance.d/50-settings.conf
`,
      },
    ],
    ports: [
      { port: 53, protocol: 'udp', description: 'DNS over UDP' },
      { port: 53, protocol: 'tcp', description: 'DNS over TCP' },
    ],
    volumes: [{ path: '/etc/unbound/unbound.conf.d', description: 'your own configuration (*.conf: zones, stub zones, more options)' }],
    settings: {
      access: {
        description: 'Client networks allowed to query, in CIDR notation, separated by spaces or commas; 127.0.0.1 and ::1 are always allowed, everyone else is refused.',
        default: '10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7 fe80::/10',
        example: EXAMPLE.access,
        type: kinds.cidrs(),
      },
      forward: {
        description: 'Upstream resolvers (IP[@PORT], separated by spaces or commas) to forward every query to; empty: full recursion from the root servers.',
        example: EXAMPLE.forward,
        type: kinds.pattern('[0-9A-Fa-f:][0-9A-Fa-f.:]*(@[0-9]{1,5})?(#[A-Za-z0-9.-]+)?([ ,]+[0-9A-Fa-f:][0-9A-Fa-f.:]*(@[0-9]{1,5})?(#[A-Za-z0-9.-]+)?)*', 'IP addresses, each with an optional @PORT, separated by spaces or commas, such as 192.0.2.53 2001:db8::53@5353'),
      },
      local_data: {
        description: 'Local records "NAME TYPE DATA" separated by ";" (types A, AAAA, CNAME, PTR, MX, SRV), answered by unbound itself.',
        example: EXAMPLE.localData,
        type: kinds.pattern('[A-Za-z0-9._: ;-]+', 'records NAME TYPE DATA separated by ";": letters, digits, spaces and . _ : -'),
        change: { value: 'nas.home.arpa. A 192.168.1.20', check: `drill @127.0.0.1 nas.home.arpa. A | grep -q '192\\.168\\.1\\.20$' && ! drill @127.0.0.1 printer.home.arpa. A | grep -q '192\\.168\\.1\\.11$'` },
      },
    },
    configure: 'configure.sh',
    health: { command: `unbound-control status >/dev/null && drill @127.0.0.1 localhost. A | grep -q 'rcode: NOERROR'`, timeout: 60 },
    tests: [
      {
        name: 'local data given at launch is answered',
        command: `drill @127.0.0.1 nas.home.arpa. A | grep -qE '^nas\\.home\\.arpa\\.[[:space:]].*[[:space:]]A[[:space:]]+192\\.168\\.1\\.10$' && drill @127.0.0.1 printer.home.arpa. A | grep -q '192\\.168\\.1\\.11$'`,
      },
      {
        name: 'unbound-control lists the local data and the forwarders given at launch',
        command: `unbound-control list_local_data | grep -q '^nas\\.home\\.arpa\\..*192\\.168\\.1\\.10' && unbound-control list_forwards | grep -qxF '. IN forward ${EXAMPLE.forward}'`,
      },
      {
        name: 'a client of a network given at launch is answered, another one is refused',
        command: `drill -I 127.0.0.2 @127.0.0.1 nas.home.arpa. A | grep -q 'rcode: NOERROR' && drill -I 127.0.0.3 @127.0.0.1 nas.home.arpa. A | grep -q 'rcode: REFUSED'`,
      },
      {
        name: 'DNSSEC validation is on with the root trust anchor',
        command: `unbound-checkconf -o module-config | grep -qx 'validator iterator' && grep -q 'DNSKEY 257' "$(unbound-checkconf -o trust-anchor-file)"`,
      },
      {
        name: 'the whole configuration passes unbound-checkconf, and systemctl reload unbound works',
        command: 'unbound-checkconf && systemctl reload unbound && systemctl is-active -q unbound',
      },
    ],
  });
}

/**
 * The published appliance: Debian 13 (trixie). No Alpine variant: it could not be built or tested
 * here (Alpine's mirror is unreachable).
 */
export default unbound(debian());
