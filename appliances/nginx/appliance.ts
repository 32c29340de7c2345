import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { alpine } from '../_base/alpine.ts';
import { debian } from '../_base/debian.ts';
import { HTTP_CLIENT, httpClientFile } from '../_shared/http.ts';

/**
 * nginx: a web server / reverse proxy with a real default site, a /healthz location, the server
 * name and an optional TLS certificate given at launch.
 * @param base the base layer; the same files and configure script serve Debian and Alpine
 */
function nginx(base: Base) {
  const onAlpine = base.name === 'alpine';
  return defineAppliance({
    name: 'nginx',
    version: '1.26',
    description: 'nginx web server and reverse proxy',
    base,
    architectures: ['amd64', 'arm64'],
    // Debian: `nginx` (nginx-light is now a metapackage adding the echo module).
    packages: ['nginx'],
    services: ['nginx'],
    files: [
      { source: 'nginx.conf', path: '/etc/nginx/nginx.conf' },
      { source: 'site.conf', path: '/etc/nginx/appliance/site.conf' },
      { source: 'index.html', path: '/var/www/html/index.html' },
    ],
    actions: [{
      trigger: 'post-files',
      script: `#!/bin/sh
set -eu
mkdir -p /etc/nginx/appliance/site.d /etc/nginx/conf.d /etc/nginx/sites-enabled /var/www/html
# The packaged default site is replaced by /etc/nginx/appliance/site.conf.
rm -f /etc/nginx/sites-enabled/default /etc/nginx/http.d/default.conf
${onAlpine ? '# Alpine runs the workers as "nginx".\nsed -i "s/^user www-data;/user nginx;/" /etc/nginx/nginx.conf\n' : ''}`,
    }],
    ports: [
      { port: 80, description: 'HTTP' },
      { port: 443, description: 'HTTPS (when user.nginx.tls_cert and tls_key are given)' },
    ],
    volumes: [
      { path: '/var/www', description: 'web content (the default site serves /var/www/html)' },
      { path: '/etc/nginx/conf.d', description: 'your own server blocks (*.conf)' },
    ],
    settings: {
      server_name: {
        description: 'Host names of the default site (nginx server_name, space separated). When set, other host names get 404 from a catch-all server.',
        default: '_',
        example: 'www.example.test',
        change: { value: 'www2.example.test', check: `${HTTP_CLIENT} -H www2.example.test / | grep -q 'It works' && [ "$(${HTTP_CLIENT} -H www.example.test / | head -n 1)" = 404 ]` },
        type: kinds.pattern('_|[*]?[A-Za-z0-9.-]+( [*]?[A-Za-z0-9.-]+)*', 'host names separated by spaces (*.example.net allowed), or _ for any'),
      },
      tls_cert: {
        description: 'PEM certificate (chain) for HTTPS on port 443; give it together with tls_key, e.g. -c user.nginx.tls_cert="$(cat cert.pem)"',
        type: kinds.pem(),
      },
      tls_key: {
        description: 'PEM private key of tls_cert; written to /etc/nginx/tls/key.pem (mode 0600)',
        secret: true,
        type: kinds.pem(),
      },
    },
    configure: 'configure.sh',
    health: { command: `${HTTP_CLIENT} /healthz`, timeout: 60 },
    tests: [
      {
        name: 'the default site answers to the server_name given at launch',
        command: `${HTTP_CLIENT} -H www.example.test / | grep -q 'It works'`,
      },
      {
        name: 'other host names get 404 once server_name is set',
        command: `[ "$(${HTTP_CLIENT} -H other.example.invalid / | head -n 1)" = 404 ]`,
      },
      {
        name: 'the configuration is valid and server_name is applied',
        command: `nginx -T 2>/dev/null | grep -q 'server_name www.example.test;'`,
      },
    ],
    raw: { files: [httpClientFile()] },
  });
}

/** The published appliance: Debian 13 (trixie). */
export default nginx(debian());

/**
 * The same appliance on other bases: compiled and validated by the tests, not published.
 * Alpine is not built on our CI (its mirror is unreachable there).
 */
export const variants = { alpine: nginx(alpine()) };
