import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { alpine } from '../_base/alpine.ts';
import { debian } from '../_base/debian.ts';
import { HTTP_CLIENT, httpClientFile } from '../_shared/http.ts';

/**
 * The pinned upstream release (Debian does not package Traefik). Checksums of
 * traefik_v<version>_linux_<arch>.tar.gz as published in the release's
 * traefik_v<version>_checksums.txt (see README.md for where they were read and how to bump).
 */
export const TRAEFIK = {
  version: '3.7.1',
  sha256: {
    amd64: 'e92bcfb03fa1e6a70c4e7ad4eb4f1604967e6fa3c21d8e7605aca5407a40162c',
    arm64: '911ad9f4c21a58fdcbf09c75d967a280c9eec22b3d056fc7f4950cd3294c22b8',
  },
} as const;

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { email: 'admin@example.test' };

/** Downloads the pinned release for the image's architecture, verifies it, installs it. */
const FETCH = `#!/bin/sh
# Fetch the pinned Traefik release and verify its sha256 before installing it.
set -eu
version=${TRAEFIK.version}
arch=$(dpkg --print-architecture)
case "$arch" in
${Object.entries(TRAEFIK.sha256).map(([a, sha]) => `  ${a}) sha256=${sha} ;;`).join('\n')}
  *) echo "traefik: no pinned checksum for architecture $arch" >&2; exit 1 ;;
esac
tarball=traefik_v\${version}_linux_\${arch}.tar.gz
tmp=$(mktemp -d)
curl -fsSL --proto '=https' --tlsv1.2 --retry 3 -o "$tmp/$tarball" \\
  "https://github.com/traefik/traefik/releases/download/v\${version}/$tarball"
echo "$sha256  $tmp/$tarball" | sha256sum -c -
tar -xzf "$tmp/$tarball" -C "$tmp" traefik
install -m 0755 "$tmp/traefik" /usr/local/bin/traefik
rm -rf "$tmp"
/usr/local/bin/traefik version
getent passwd traefik >/dev/null || useradd --system --user-group --home-dir /var/lib/traefik --no-create-home --shell /usr/sbin/nologin traefik
`;

/**
 * Traefik 3: a reverse proxy configured by files in /etc/traefik/dynamic, ping enabled, the
 * dashboard on 127.0.0.1:8080 only, Let's Encrypt through the ACME e-mail given at launch.
 * @param base the base layer
 */
function traefik(base: Base) {
  const onAlpine = base.name === 'alpine';
  const conf = onAlpine ? '/etc/traefik/traefik.yaml' : '/etc/traefik/traefik.yml';
  return defineAppliance({
    name: 'traefik',
    version: '3.7',
    description: 'Traefik reverse proxy and load balancer',
    base,
    architectures: ['amd64', 'arm64'],
    // Debian: the upstream binary (curl only to fetch it, removed again); Alpine: the package.
    packages: onAlpine ? ['traefik', 'ca-certificates'] : ['ca-certificates', 'curl'],
    services: ['traefik'],
    files: [
      { source: 'traefik.yml', path: conf },
      { source: 'routes.yml.sample', path: '/etc/traefik/examples/routes.yml.sample' },
      ...(onAlpine ? [] : [{ source: 'traefik.service', path: '/etc/systemd/system/traefik.service' }]),
    ],
    actions: onAlpine
      ? [{
          trigger: 'post-files',
          script: `#!/bin/sh\nset -eu\nmkdir -p /etc/traefik/dynamic /var/lib/traefik\nchown traefik:traefik /var/lib/traefik\nchmod 0700 /var/lib/traefik\n# The OpenRC service reads ${conf}.\n`,
        }]
      : [
          { trigger: 'post-packages', script: FETCH },
          {
            trigger: 'post-files',
            script: '#!/bin/sh\nset -eu\nmkdir -p /etc/traefik/dynamic /var/lib/traefik\nchown traefik:traefik /var/lib/traefik\nchmod 0700 /var/lib/traefik\n# curl was only needed to fetch the release.\napt-get purge -y --auto-remove curl\n',
          },
        ],
    ports: [
      { port: 80, description: 'HTTP (entry point "web")' },
      { port: 443, description: 'HTTPS (entry point "websecure")' },
      { port: 8080, description: 'ping and dashboard/API (entry point "traefik")', localOnly: true },
    ],
    volumes: [
      { path: '/etc/traefik/dynamic', description: 'routers, services and middlewares (file provider, reloaded on change)' },
      { path: '/var/lib/traefik', description: "ACME account and certificates (acme.json; keep it: Let's Encrypt rate limits)" },
    ],
    settings: {
      email: {
        description: "E-mail address of the ACME account of the `letsencrypt` certificate resolver (routers opt in with tls.certResolver: letsencrypt).",
        example: EXAMPLE.email,
        type: kinds.email(),
      },
    },
    configure: 'configure.sh',
    health: { command: `traefik healthcheck --ping --configFile=${conf} >/dev/null`, timeout: 60 },
    tests: [
      {
        name: 'ping answers OK on the loopback entry point',
        command: `${HTTP_CLIENT} -p 8080 /ping | tail -n 1 | grep -qx OK`,
      },
      {
        name: 'the dashboard/API listens on 127.0.0.1 only',
        command: `[ "$(ss -Hltn 'sport = :8080' | awk '{print $4}' | sort -u)" = 127.0.0.1:8080 ]`,
      },
      {
        name: 'requests without a router get 404 on the web entry point',
        command: `[ "$(${HTTP_CLIENT} -H nothing.example.invalid / | head -n 1)" = 404 ]`,
      },
      {
        name: 'the ACME e-mail given at launch is in the static configuration',
        command: `grep -q 'email: "${EXAMPLE.email}"' ${conf}`,
      },
    ],
    raw: { files: [httpClientFile()] },
  });
}

/**
 * The published appliance: Debian 13 (trixie) with the pinned upstream binary. It is not built
 * on our CI, which cannot download release files (see README.md).
 */
export default traefik(debian());

/**
 * The same appliance on other bases: compiled and validated by the tests, not published.
 * Alpine is not built on our CI (its mirror is unreachable there).
 */
export const variants = { alpine: traefik(alpine()) };
