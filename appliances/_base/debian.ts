/**
 * Debian base layer: debootstrap minbase + systemd, networkd DHCP on eth0, systemd-resolved for
 * DNS, slimmed (no docs, man pages, locales or apt lists in the image). The boot does not wait
 * for DHCP (systemd-networkd-wait-online is masked) unless the appliance sets `waitForNetwork`.
 *
 * The mirror is NOT written here: it comes from the build host's apt configuration
 * (`lib/host/mirror.ts`), or `APPLIANCE_DEBIAN_MIRROR` / `--debian-mirror`.
 */
import { defineBase, type Base } from '../../lib/compile/model.ts';

/** Options of the Debian base. */
export interface DebianOptions {
  /**
   * Debian release codename.
   * @default "trixie"
   */
  release?: 'trixie' | 'bookworm' | 'forky';
  /**
   * Use systemd-resolved for DNS in the container.
   * @default true
   */
  resolved?: boolean;
}

const TITLES: Record<string, string> = { trixie: 'Debian 13 (trixie)', bookworm: 'Debian 12 (bookworm)', forky: 'Debian 14 (forky)' };

/**
 * iproute2 tools appliances do not use (traffic control, RDMA, devlink, statistics): removed from
 * the image and kept out on upgrades. `ip` and `ss` stay.
 */
const UNUSED_TOOLS = [
  '/usr/sbin/tc', '/usr/sbin/devlink', '/usr/sbin/dcb', '/usr/sbin/tipc', '/usr/sbin/bridge', '/usr/sbin/genl',
  '/usr/sbin/vdpa', '/usr/sbin/rtmon', '/usr/sbin/rtacct', '/usr/sbin/arpd', '/usr/bin/rdma', '/usr/bin/lnstat',
  '/usr/bin/nstat', '/usr/bin/ifstat', '/usr/bin/ctstat', '/usr/bin/rtstat', '/usr/bin/routel',
];

/** Keeps docs, man pages and translations out of the image as packages are installed. */
const DPKG_SLIM = `# Written by the appliance Debian base: keep images small.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
path-exclude=/usr/share/bash-completion/*
${UNUSED_TOOLS.map((p) => `path-exclude=${p}\n`).join('')}`;

const APT_SLIM = `// Written by the appliance Debian base: no recommends, no caches.
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
`;

const NETWORK = `[Match]
Name=eth0

[Network]
DHCP=true

[DHCPv4]
UseDomains=true

[DHCP]
ClientIdentifier=mac
`;

/** The Debian base layer. */
export function debian(options: DebianOptions = {}): Base {
  const release = options.release ?? 'trixie';
  const resolved = options.resolved ?? true;
  return defineBase({
    name: 'debian',
    distribution: 'debian',
    release,
    title: TITLES[release] ?? `Debian ${release}`,
    packageManager: 'apt',
    init: 'systemd',
    architectures: { amd64: 'amd64', arm64: 'arm64' },
    architectureMap: 'debian',
    source: (ctx) => ({ downloader: 'debootstrap', url: ctx.debianMirror, variant: 'minbase' }),
    packages: ['systemd-sysv', 'iproute2', ...(resolved ? ['dbus', 'systemd-resolved'] : [])],
    services: ['systemd-networkd', ...(resolved ? ['systemd-resolved'] : [])],
    files: [
      { generator: 'hostname', path: '/etc/hostname' },
      { generator: 'hosts', path: '/etc/hosts' },
      { generator: 'dump', path: '/etc/machine-id' },
      { generator: 'remove', path: '/var/lib/dbus/machine-id' },
      { generator: 'dump', path: '/etc/systemd/network/eth0.network', content: NETWORK, mode: '0644' },
    ],
    actions: [
      {
        trigger: 'post-unpack',
        action: `#!/bin/sh\nset -eu\nmkdir -p /etc/dpkg/dpkg.cfg.d /etc/apt/apt.conf.d\ncat > /etc/dpkg/dpkg.cfg.d/01-appliance-slim <<'EOF'\n${DPKG_SLIM}EOF\ncat > /etc/apt/apt.conf.d/01-appliance-slim <<'EOF'\n${APT_SLIM}EOF\n`,
      },
    ],
    finalActions: [
      ...(resolved
        ? [{
            trigger: 'post-files' as const,
            action: '#!/bin/sh\nset -eu\n# DNS through systemd-resolved (a debootstrap image has an empty resolv.conf).\numount -l /etc/resolv.conf 2>/dev/null || true\nln -sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf\n',
          }]
        : []),
      {
        trigger: 'post-files',
        action: `#!/bin/sh
set -eu
# Slim the image: package caches and lists, docs, man pages, locales, logs.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find /usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/* /usr/share/linda/*
find /usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
# iconv charset modules (8 MB): keep the Unicode and Latin-1 ones; UTF-8 and ASCII are built in.
find /usr/lib/*/gconv -type f -name '*.so' -not -name 'UTF-*' -not -name 'UNICODE.so' -not -name 'ISO8859-1.so' -not -name 'ISO8859-15.so' -delete 2>/dev/null || true
rm -rf /usr/share/bash-completion ${UNUSED_TOOLS.join(' ')}
find /var/log -type f -delete
rm -f /etc/*- /var/cache/ldconfig/aux-cache
`,
      },
      {
        trigger: 'post-files',
        action: `#!/bin/sh
set -eu
# First-boot work done once here instead of on every launch: the units with
# ConditionNeedsUpdate= (systemd-sysusers, ldconfig, systemd-journal-catalog-update,
# systemd-update-done) run while /etc/.updated and /var/.updated are older than /usr. Do their
# work, then stamp: last, after every change to the tree.
systemd-sysusers
ldconfig -X
journalctl --update-catalog
/usr/lib/systemd/systemd-update-done
`,
      },
    ],
    enableService: 'systemctl enable %s',
    // network-online.target is reached at once: a service binding every address need not wait
    // ~1 s for DHCP. Appliances that must reach the network to start set waitForNetwork.
    skipNetworkWait: 'systemctl mask systemd-networkd-wait-online.service',
  });
}
