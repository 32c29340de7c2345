import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { alpine } from '../_base/alpine.ts';
import { debian } from '../_base/debian.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { password: 'Example-Passw0rd', maxmemory: '64mb' };
/** The second values of day two (`test`: config set + restart). */
const CHANGED = { password: 'Changed-Passw0rd', maxmemory: '32mb' };

/**
 * Redis 8: binds every address with protected mode on; the password given at launch is stored
 * only as a SHA-256 hash in the ACL file. A `healthcheck` ACL user may run PING and nothing else.
 * @param base the base layer
 */
function redis(base: Base) {
  const onAlpine = base.name === 'alpine';
  const cli = `redis-cli --no-auth-warning -a '${EXAMPLE.password}'`;
  return defineAppliance({
    name: 'redis',
    version: '8.0',
    description: 'Redis in-memory data store',
    base,
    architectures: ['amd64', 'arm64'],
    // Alpine: `redis` is in the community repository (`valkey` in main is the alternative).
    packages: onAlpine ? ['redis'] : ['redis-server'],
    services: onAlpine ? ['redis'] : ['redis-server'],
    files: [
      { source: 'redis.conf', path: onAlpine ? '/etc/redis.conf' : '/etc/redis/redis.conf' },
      { source: 'users.acl', path: '/etc/redis/users.acl', mode: '0640' },
      ...(onAlpine ? [] : [{ source: 'systemd-override.conf', path: '/etc/systemd/system/redis-server.service.d/appliance.conf' }]),
    ],
    actions: [{
      trigger: 'post-files',
      script: `#!/bin/sh
set -eu
mkdir -p /etc/redis/appliance.d /var/lib/redis
printf '# Replaced at first boot from the launch-time settings.\\n' > /etc/redis/appliance.d/00-settings.conf
chown -R redis:redis /etc/redis /var/lib/redis
chmod 0750 /etc/redis /etc/redis/appliance.d /var/lib/redis
`,
    }],
    ports: [{ port: 6379, description: 'Redis protocol (RESP)' }],
    volumes: [{ path: '/var/lib/redis', description: 'RDB snapshots (dump.rdb) and the append-only file when enabled' }],
    settings: {
      password: {
        description: 'Password of the `default` user (stored as a SHA-256 hash in /etc/redis/users.acl). Without it, protected mode accepts loopback clients only.',
        secret: true,
        example: EXAMPLE.password,
        type: kinds.string({ maxLength: 1000 }),
        change: { value: CHANGED.password, check: `redis-cli --no-auth-warning -a '${CHANGED.password}' ping | grep -qx PONG` },
      },
      maxmemory: {
        description: 'Memory limit such as 256mb or 1gb, with the allkeys-lru eviction policy; empty: no limit.',
        example: EXAMPLE.maxmemory,
        type: kinds.size(),
        change: { value: CHANGED.maxmemory, check: `redis-cli --no-auth-warning -a '${CHANGED.password}' config get maxmemory | tail -n 1 | grep -qx 33554432` },
      },
    },
    configure: 'configure.sh',
    health: { command: 'redis-cli --no-auth-warning --user healthcheck --pass - ping | grep -qx PONG', timeout: 60 },
    tests: [
      {
        name: 'the password given at launch is accepted',
        command: `${cli} ping | grep -qx PONG`,
      },
      {
        name: 'a command without the password is refused with NOAUTH',
        command: "redis-cli ping 2>&1 | grep -q '^NOAUTH'",
      },
      {
        name: 'a wrong password is refused',
        command: "redis-cli --no-auth-warning -a wrong-password ping 2>&1 | grep -q 'WRONGPASS'",
      },
      {
        name: 'maxmemory given at launch is applied',
        command: `${cli} config get maxmemory | tail -n 1 | grep -qx 67108864`,
      },
      {
        name: 'a save writes RDB format 12, the newest configure.sh lets redis load (RDB_MAX)',
        command: `${cli} save | grep -qx OK && [ "$(head -c 9 /var/lib/redis/dump.rdb)" = REDIS0012 ]`,
      },
      {
        name: 'protected mode stays on',
        command: `${cli} config get protected-mode | tail -n 1 | grep -qx yes`,
      },
      {
        name: 'the healthcheck user can only PING',
        command: "redis-cli --no-auth-warning --user healthcheck --pass - get x 2>&1 | grep -q NOPERM",
      },
      {
        name: 'the password is no longer on disk in clear text',
        command: `[ ! -e /etc/appliance/settings.d/password ] && ! grep -rqF '${EXAMPLE.password}' /etc/redis /etc/appliance`,
      },
    ],
  });
}

/** The published appliance: Debian 13 (trixie). */
export default redis(debian());

/**
 * The same appliance on other bases: compiled and validated by the tests, not published.
 * Alpine is not built on our CI (its mirror is unreachable there).
 */
export const variants = { alpine: redis(alpine()) };
