/**
 * Alpine base layer: current stable Alpine, OpenRC with `rc_sys="lxc"`, eth0 by DHCP through
 * /etc/network/interfaces (OpenRC services that `need net` fail without it).
 *
 * The mirror is NOT written here: set `APPLIANCE_ALPINE_MIRROR` (or `--alpine-mirror`); on an
 * Alpine build host it is read from /etc/apk/repositories. Our CI machines cannot reach an
 * Alpine mirror, so Alpine appliances are compiled and validated there but not built.
 */
import { defineBase, type Base } from '../../lib/compile/model.ts';

/** Options of the Alpine base. */
export interface AlpineOptions {
  /**
   * Alpine release (3.20 is end of life).
   * @default "3.23"
   */
  release?: '3.23' | '3.22' | '3.21' | 'edge';
}

const INTERFACES = `auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
`;

/** The Alpine base layer. */
export function alpine(options: AlpineOptions = {}): Base {
  const release = options.release ?? '3.23';
  return defineBase({
    name: 'alpine',
    distribution: 'alpinelinux',
    release,
    title: `Alpine ${release}`,
    packageManager: 'apk',
    init: 'openrc',
    architectures: { amd64: 'x86_64', arm64: 'aarch64' },
    architectureMap: 'alpinelinux',
    source: (ctx) => ({
      downloader: 'alpinelinux-http',
      url: ctx.alpineMirror,
      ...(release === 'edge' ? { same_as: '3.23' } : {}),
    }),
    packages: ['alpine-base'],
    services: ['networking'],
    files: [
      { generator: 'hostname', path: '/etc/hostname' },
      { generator: 'hosts', path: '/etc/hosts' },
      { generator: 'dump', path: '/etc/network/interfaces', content: INTERFACES, mode: '0644' },
    ],
    actions: [
      {
        trigger: 'post-packages',
        action: `#!/bin/sh
set -eu
# OpenRC inside a container: rc_sys=lxc skips hardware services.
sed -i 's/^#\\?rc_sys=.*/rc_sys="lxc"/' /etc/rc.conf
grep -q '^rc_sys="lxc"' /etc/rc.conf || echo 'rc_sys="lxc"' >> /etc/rc.conf
for svc in bootmisc syslog; do rc-update add "$svc" boot; done
`,
      },
    ],
    finalActions: [
      {
        trigger: 'post-files',
        action: '#!/bin/sh\nset -eu\n# Slim the image.\nrm -rf /var/cache/apk/* /usr/share/man/* /usr/share/doc/*\n',
      },
    ],
    enableService: 'rc-update add %s default',
  });
}
