import { defineAppliance, kinds } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { password: 'Example-Passw0rd', maxmemory: '64mb', maxmemory_policy: 'allkeys-lfu' };
/** The second values of day two (`test`: config set + restart), and a password changed inside. */
const CHANGED = { password: 'Changed-Passw0rd', maxmemory: '32mb', maxmemory_policy: 'volatile-ttl', inside: 'Changed-Inside-1' };
const changedCli = `valkey-cli --no-auth-warning -a '${CHANGED.password}'`;

/** The eviction policies valkey knows (configure.sh refuses any other value). */
export const POLICIES = [
  'noeviction', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random',
  'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl',
] as const;

const cli = `valkey-cli --no-auth-warning -a '${EXAMPLE.password}'`;
/** After `keptChanges`: the password changed inside. */
const insideCli = `valkey-cli --no-auth-warning -a '${CHANGED.inside}'`;
/** The RDB format valkey 8.1 writes, the newest it reads (RDB_MAX in files/configure.sh). */
const RDB_FORMAT = 'REDIS0011';

/**
 * Valkey 8.1 (the BSD-licensed Redis fork, Debian's `valkey-server`): binds every address with
 * protected mode on; the password given at launch is stored only as a SHA-256 hash in the ACL
 * file. A `healthcheck` ACL user may run PING and nothing else. Debian only: no Alpine variant.
 */
export default defineAppliance({
  name: 'valkey',
  version: '8.1',
  description: 'Valkey in-memory data store (Redis-compatible)',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['valkey-server'],
  services: ['valkey-server'],
  files: [
    { source: 'valkey.conf', path: '/etc/valkey/valkey.conf' },
    { source: 'systemd-override.conf', path: '/etc/systemd/system/valkey-server.service.d/appliance.conf' },
  ],
  actions: [{
    trigger: 'post-files',
    script: `#!/bin/sh
set -eu
mkdir -p /etc/valkey/appliance.d /var/lib/valkey
printf '# Replaced at first boot from the launch-time settings.\\n' > /etc/valkey/appliance.d/00-settings.conf
# The package's log folder is unused: valkey logs to the journal.
rm -rf /var/log/valkey
chown -R valkey:valkey /etc/valkey /var/lib/valkey
chmod 0750 /etc/valkey /etc/valkey/appliance.d /var/lib/valkey
`,
  }],
  ports: [{ port: 6379, description: 'Valkey / Redis protocol (RESP)' }],
  volumes: [{ path: '/var/lib/valkey', description: 'RDB snapshots (dump.rdb) and the append-only files when enabled' }],
  settings: {
    password: {
      description: 'Password of the `default` user (stored as a SHA-256 hash in /var/lib/valkey/users.acl, with the data). Without it, protected mode accepts loopback clients only.',
      secret: true,
      example: EXAMPLE.password,
      type: kinds.string({ maxLength: 1000 }),
      change: { value: CHANGED.password, check: `${changedCli} ping | grep -qx PONG` },
    },
    maxmemory: {
      description: 'Memory limit such as 256mb or 1gb; empty: no limit.',
      example: EXAMPLE.maxmemory,
      type: kinds.size(),
      change: { value: CHANGED.maxmemory, check: `${changedCli} config get maxmemory | tail -n 1 | grep -qx 33554432` },
    },
    maxmemory_policy: {
      description: `What to evict when maxmemory is reached: ${POLICIES.join(', ')}.`,
      default: 'allkeys-lru',
      example: EXAMPLE.maxmemory_policy,
      type: kinds.enum(POLICIES),
      change: { value: CHANGED.maxmemory_policy, check: `${changedCli} config get maxmemory-policy | tail -n 1 | grep -qx ${CHANGED.maxmemory_policy}` },
    },
  },
  configure: 'configure.sh',
  health: { command: 'valkey-cli --no-auth-warning --user healthcheck --pass - ping | grep -qx PONG', timeout: 60 },
  keptChanges: [{
    name: 'a password changed inside with ACL SETUSER + ACL SAVE',
    change: `${cli} ACL SETUSER default resetpass '>${CHANGED.inside}' && valkey-cli --no-auth-warning -a '${CHANGED.inside}' ACL SAVE | grep -qx OK`,
    check: `valkey-cli --no-auth-warning -a '${CHANGED.inside}' ping | grep -qx PONG`,
  }],
  keptData: {
    name: 'a key saved to /var/lib/valkey/dump.rdb',
    change: `${cli} set upgrade-kept yes | grep -qx OK && ${cli} save | grep -qx OK`,
    check: `${insideCli} get upgrade-kept | grep -qx yes`,
  },
  newerData: {
    name: 'a dump.rdb of RDB format 12 (Redis 7.4 and later)',
    // Stopped first: valkey saves a snapshot of its own format when it stops (no password
    // needed: the keptChanges changed it).
    change: `systemctl stop valkey-server && [ -s /var/lib/valkey/dump.rdb ] && cp -p /var/lib/valkey/dump.rdb /var/lib/valkey/dump.rdb.kept && printf 'REDIS0012' | dd of=/var/lib/valkey/dump.rdb bs=9 count=1 conv=notrunc status=none`,
    refusal: "/var/lib/valkey/dump.rdb is RDB format 12; this image's valkey reads RDB formats up to 11",
    undo: 'mv /var/lib/valkey/dump.rdb.kept /var/lib/valkey/dump.rdb',
  },
  tests: [
    {
      name: 'the password given at launch is accepted',
      command: `${cli} ping | grep -qx PONG`,
    },
    {
      name: 'a command without the password is refused with NOAUTH',
      command: "valkey-cli ping 2>&1 | grep -q '^NOAUTH'",
    },
    {
      name: 'a wrong password is refused',
      command: "valkey-cli --no-auth-warning -a wrong-password ping 2>&1 | grep -q 'WRONGPASS'",
    },
    {
      name: 'maxmemory given at launch is applied (64mb = 67108864 bytes)',
      command: `${cli} config get maxmemory | tail -n 1 | grep -qx 67108864`,
    },
    {
      name: 'maxmemory_policy given at launch is applied',
      command: `${cli} config get maxmemory-policy | tail -n 1 | grep -qx ${EXAMPLE.maxmemory_policy}`,
    },
    {
      name: 'protected mode stays on',
      command: `${cli} config get protected-mode | tail -n 1 | grep -qx yes`,
    },
    {
      name: 'the healthcheck user can only PING',
      command: 'valkey-cli --no-auth-warning --user healthcheck --pass - get x 2>&1 | grep -q NOPERM',
    },
    {
      name: 'data written is saved to /var/lib/valkey',
      command: `${cli} set appliance-test ok | grep -qx OK && ${cli} save | grep -qx OK && [ -s /var/lib/valkey/dump.rdb ]`,
    },
    {
      name: `a save writes RDB format ${RDB_FORMAT.slice(5)}, the newest configure.sh lets valkey load (RDB_MAX)`,
      command: `${cli} save | grep -qx OK && [ "$(head -c 9 /var/lib/valkey/dump.rdb)" = ${RDB_FORMAT} ]`,
    },
    {
      name: 'the password is no longer on disk in clear text',
      command: `[ ! -e /etc/appliance/settings.d/password ] && ! grep -rqF '${EXAMPLE.password}' /etc/valkey /etc/appliance`,
    },
  ],
});
