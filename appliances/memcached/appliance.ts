import { defineAppliance, kinds } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';
import { withoutPerlModules } from '../_shared/perl.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { memory: '128', listen: '0.0.0.0', user: 'app', password: 'Example-Passw0rd' };
/** The second values of day two (`test`: config set + restart). */
const CHANGED = { memory: '96', user: 'app2', password: 'Changed-Passw0rd' };

/**
 * One memcached text-protocol session on 127.0.0.1:11211 through bash's /dev/tcp (the image has
 * no nc): sends `lines` (each ended by CRLF, then `quit`) and prints the answers.
 */
export const session = (...lines: string[]) =>
  `bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211 && printf "${[...lines, 'quit'].map((l) => `${l}\\r\\n`).join('')}" >&3 && timeout 5 cat <&3'`;

/** The authentication line of memcached's text protocol (a `set` whose data is "user password"). */
const auth = (user: string, password: string) => [`set auth 0 0 ${user.length + 1 + password.length}`, `${user} ${password}`];

/** `stats settings` as the user given at launch. */
const settings = session(...auth(EXAMPLE.user, EXAMPLE.password), 'stats settings');
/** `stats settings` as the user of day two's changed values. */
const changedSettings = session(...auth(CHANGED.user, CHANGED.password), 'stats settings');

/**
 * memcached 1.6: memory size, listen addresses and text-protocol authentication (memcached -Y)
 * given at launch. Without a password it listens on 127.0.0.1 only (reachable through Incus proxy
 * devices). Debian only: no Alpine variant.
 */
export default defineAppliance({
  name: 'memcached',
  version: '1.6',
  description: 'memcached in-memory cache',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['memcached'],
  services: ['memcached'],
  files: [
    { source: 'memcached.conf', path: '/etc/memcached.conf' },
  ],
  actions: [
    // memcached depends on perl for memcached-tool (which also needs liburi-perl, not installed);
    // Debian's start wrapper only needs perl-base.
    withoutPerlModules(),
    { trigger: 'post-files', script: '#!/bin/sh\nset -eu\ninstall -d -o memcache -g memcache -m 0750 /etc/memcached\n' },
  ],
  ports: [{ port: 11211, description: 'memcached protocol (TCP; UDP is off)' }],
  settings: {
    memory: {
      description: 'Memory for items, in MB (memcached -m).',
      default: '64',
      example: EXAMPLE.memory,
      type: kinds.integer({ min: 1, max: 1048576 }),
      change: { value: CHANGED.memory, check: `${changedSettings} | grep -q '^STAT maxbytes 100663296'` },
    },
    listen: {
      description: 'Addresses to listen on, separated by commas (memcached -l), e.g. 0.0.0.0 for every IPv4 address. Set a password before listening beyond 127.0.0.1.',
      default: '127.0.0.1',
      example: EXAMPLE.listen,
      type: kinds.pattern('[0-9A-Fa-f.:]+(,[0-9A-Fa-f.:]+)*', 'IP addresses separated by commas, such as 127.0.0.1 or 0.0.0.0,::'),
    },
    user: {
      description: 'User name for the text-protocol authentication (with password).',
      default: 'memcache',
      example: EXAMPLE.user,
      type: kinds.pattern('[A-Za-z0-9_.-]+', 'letters, digits, _ . and -'),
      change: { value: CHANGED.user, check: `${changedSettings} | grep -q '^STAT auth_enabled_ascii'` },
    },
    password: {
      description: 'Password of `user`: clients must authenticate first (memcached -Y; text protocol only, the binary protocol is refused). Kept in /etc/memcached/auth (0600), which memcached reads.',
      secret: true,
      example: EXAMPLE.password,
      type: kinds.pattern('[!-9;-~]{1,250}', 'at most 250 printable ASCII characters, no space or colon'),
      change: { value: CHANGED.password, check: `${session(...auth(CHANGED.user, CHANGED.password))} | grep -q '^STORED' && ${session(...auth(EXAMPLE.user, EXAMPLE.password))} | grep -q '^CLIENT_ERROR'` },
    },
  },
  configure: 'configure.sh',
  // Without authentication `version` answers VERSION; with it, memcached answers "unauthenticated".
  // Only the first answer line is read: with authentication on, memcached does not close the
  // connection on `quit` before authenticating, so reading to the end waited for the 5 s timeout
  // and the health check alone took longer than the boot (bench/boot.ts: 6.75 s median).
  health: { command: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/11211 && printf "version\\r\\n" >&3 && timeout 5 head -n 1 <&3' | grep -Eq '^(VERSION |CLIENT_ERROR unauthenticated)'`, timeout: 60 },
  tests: [
    {
      name: 'the user and password given at launch authenticate',
      command: `${session(...auth(EXAMPLE.user, EXAMPLE.password))} | grep -q '^STORED'`,
    },
    {
      name: 'a command without authentication is refused',
      command: `${session('get x')} | grep -q '^CLIENT_ERROR unauthenticated'`,
    },
    {
      name: 'a wrong password is refused',
      command: `${session(...auth(EXAMPLE.user, 'wrong-password'))} | grep -q '^CLIENT_ERROR'`,
    },
    {
      name: 'the memory size given at launch is applied (128 MB)',
      command: `${settings} | grep -q '^STAT maxbytes 134217728'`,
    },
    {
      name: 'the listen address given at launch is applied',
      command: `${settings} | grep -q '^STAT inter ${EXAMPLE.listen}' && ss -Hltn 'sport = 11211' | grep -q '${EXAMPLE.listen}:11211'`,
    },
    {
      name: 'text-protocol authentication is on',
      command: `${settings} | grep -q '^STAT auth_enabled_ascii /etc/memcached/auth'`,
    },
    {
      name: 'an item stored after authentication is read back',
      command: `${session(...auth(EXAMPLE.user, EXAMPLE.password), 'set k 0 0 2', 'ok', 'get k')} | grep -q '^VALUE k 0 2'`,
    },
    {
      name: 'the password is gone from the settings folder',
      command: '[ ! -e /etc/appliance/settings.d/password ] && [ "$(stat -c %a:%U /etc/memcached/auth)" = 600:memcache ]',
    },
  ],
});
