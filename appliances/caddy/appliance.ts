import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { alpine } from '../_base/alpine.ts';
import { debian } from '../_base/debian.ts';
import { HTTP_CLIENT, httpClientFile } from '../_shared/http.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { site: 'www.example.test', tls: 'internal', email: 'admin@example.test' };
/** The second values of day two (`test`: config set + restart). */
const CHANGED = { site: 'www2.example.test' };

/** Caddy's data folder (certificates, ACME account, local CA) for the `caddy` service user. */
const CADDY_DATA = '/var/lib/caddy/.local/share/caddy';

/** An HTTPS GET through openssl s_client (the image has no curl), verified against Caddy's local CA. */
const httpsGet = (host: string, path = '/') =>
  `printf 'GET ${path} HTTP/1.0\\r\\nHost: ${host}\\r\\n\\r\\n' | openssl s_client -quiet -connect 127.0.0.1:443 -servername ${host} -verify_return_error -CAfile ${CADDY_DATA}/pki/authorities/local/root.crt 2>/dev/null`;

/**
 * Caddy 2: a real Caddyfile serving /var/www/html; the site address, TLS mode (automatic HTTPS,
 * Caddy's internal CA, or plain HTTP) and ACME e-mail are given at launch.
 * @param base the base layer
 */
function caddy(base: Base) {
  return defineAppliance({
    name: 'caddy',
    version: '2.6',
    description: 'Caddy web server with automatic HTTPS',
    base,
    architectures: ['amd64', 'arm64'],
    // openssl: TLS checks from inside the container (and the HTTPS test).
    packages: ['caddy', 'openssl'],
    services: ['caddy'],
    files: [
      { source: 'Caddyfile', path: '/etc/caddy/Caddyfile' },
      { source: 'sites.caddy', path: '/etc/caddy/appliance/sites.caddy' },
      { source: 'global.caddy', path: '/etc/caddy/appliance/global.caddy' },
      { source: 'index.html', path: '/var/www/html/index.html' },
    ],
    actions: [{
      trigger: 'post-files',
      script: '#!/bin/sh\nset -eu\nmkdir -p /etc/caddy/conf.d /var/lib/caddy\nchown caddy:caddy /var/lib/caddy\n',
    }],
    ports: [
      { port: 80, description: 'HTTP (redirects to HTTPS for sites with TLS)' },
      { port: 443, description: 'HTTPS' },
      { port: 443, protocol: 'udp', description: 'HTTP/3 (QUIC)' },
      { port: 2019, description: 'admin API', localOnly: true },
    ],
    volumes: [
      { path: '/var/lib/caddy', description: 'certificates, ACME account and the local CA (keep it: ACME rate limits)' },
      { path: '/var/www', description: 'web content (the default site serves /var/www/html)' },
      { path: '/etc/caddy/conf.d', description: 'your own sites (*.caddy, imported by the Caddyfile)' },
    ],
    settings: {
      site: {
        description: 'Site address(es) of the default site, e.g. example.com or "example.com www.example.com"; :80 serves every host name over plain HTTP.',
        default: ':80',
        example: EXAMPLE.site,
        type: kinds.pattern('[A-Za-z0-9.:/*_-]+([ ,]+[A-Za-z0-9.:/*_-]+)*', 'site addresses such as example.com, :80 or http://localhost:8080, separated by spaces or commas'),
        change: { value: CHANGED.site, check: `${httpsGet(CHANGED.site)} | grep -q 'It works'` },
      },
      tls: {
        description: 'auto: automatic HTTPS (public names get ACME certificates, local names the internal CA); internal: certificates from Caddy\'s own CA; off: plain HTTP only.',
        default: 'auto',
        example: EXAMPLE.tls,
        type: kinds.enum(['auto', 'internal', 'off']),
      },
      email: {
        description: 'E-mail address for the ACME account (certificate expiry notices).',
        example: EXAMPLE.email,
        type: kinds.email(),
      },
    },
    configure: 'configure.sh',
    health: { command: `${HTTP_CLIENT} /healthz`, timeout: 60 },
    tests: [
      {
        name: 'the site given at launch is served over HTTPS with a certificate of the internal CA',
        command: `${httpsGet(EXAMPLE.site)} | grep -q 'It works'`,
      },
      {
        name: 'plain HTTP to the site redirects to HTTPS',
        command: `[ "$(${HTTP_CLIENT} -H ${EXAMPLE.site} / | head -n 1)" = 308 ]`,
      },
      {
        name: 'other host names get 404',
        command: `[ "$(${HTTP_CLIENT} -H other.example.invalid / | head -n 1)" = 404 ]`,
      },
      {
        // The address only reaches the running JSON config with an ACME issuer (tls auto and a
        // public name), which a test must not use: it would contact a real ACME server.
        name: 'the ACME e-mail given at launch is in the global options',
        command: `grep -qx 'email ${EXAMPLE.email}' /etc/caddy/appliance/global.caddy && caddy adapt --config /etc/caddy/Caddyfile >/dev/null 2>&1`,
      },
    ],
    raw: { files: [httpClientFile()] },
  });
}

/** The published appliance: Debian 13 (trixie). */
export default caddy(debian());

/**
 * The same appliance on other bases: compiled and validated by the tests, not published.
 * Alpine is not built on our CI (its mirror is unreachable there).
 */
export const variants = { alpine: caddy(alpine()) };
