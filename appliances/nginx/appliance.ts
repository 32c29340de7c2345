import { defineAppliance } from '../../lib/model.ts';
import { debian } from '../_base/debian.ts';

/** nginx: a small web server / reverse proxy with a real default site and a /healthz location. */
export default defineAppliance({
  name: 'nginx',
  version: '1.26',
  description: 'nginx web server and reverse proxy',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['nginx-light'],
  services: ['nginx'],
  files: [
    { source: 'nginx.conf', path: '/etc/nginx/nginx.conf' },
    { source: 'default.conf', path: '/etc/nginx/sites-available/default' },
    { source: 'index.html', path: '/var/www/html/index.html' },
    { source: 'healthcheck.sh', path: '/usr/local/bin/appliance-healthcheck', mode: '0755' },
  ],
  ports: [
    { port: 80, description: 'HTTP' },
    { port: 443, description: 'HTTPS (when a certificate is given)' },
  ],
  volumes: [
    { path: '/etc/nginx/conf.d', description: 'extra server blocks' },
    { path: '/var/www', description: 'web content' },
  ],
  settings: {
    server_name: { description: 'server_name of the default site', default: '_', example: 'www.example.test' },
  },
  configure: 'configure.sh',
  health: { command: '/usr/local/bin/appliance-healthcheck', timeout: 60 },
});
