import { defineAppliance, kinds, type Base } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/** Values of the launch-time settings used by the `test` verb (and the README examples). */
const EXAMPLE = { username: 'sensors', password: 'Example-Passw0rd' };
/** The second values of day two (`test`: config set + restart), and a password changed inside. */
const CHANGED = { username: 'sensors2', password: 'Changed-Passw0rd', inside: 'Inside-Passw0rd' };
/** A QoS 1 publish as `user`: exit 0 only when the broker accepted the login. */
const publishAs = (user: string, password: string) => `mosquitto_pub -h 127.0.0.1 -p 1883 -u ${user} -P '${password}' -t appliance/day2 -m x -q 1`;

/** mosquitto_pub/_sub options of a client on 127.0.0.1:1883 with the example account. */
const AUTH = `-h 127.0.0.1 -p 1883 -u ${EXAMPLE.username} -P '${EXAMPLE.password}'`;
/** The password file: with the data (a custom volume), so an account changed inside survives a rebuild. */
const PASSWD = '/var/lib/mosquitto/passwd';
/** The local unix socket listener (anonymous, $SYS read-only), used by the health check. */
const SOCKET = '/run/mosquitto/mosquitto.sock';
/** The persistence file; its format version is 4 bytes at offset 19 (DB_MAX in files/configure.sh). */
const DB = '/var/lib/mosquitto/mosquitto.db';

/**
 * Publishes `message` to `topic` every half second (at most 30 times) while a subscriber waits
 * for it: a real round trip that does not depend on the subscriber being ready first.
 */
function roundTrip(topic: string, message: string): string {
  return `(i=0; while [ $i -lt 30 ]; do mosquitto_pub ${AUTH} -t ${topic} -m ${message}; sleep 0.5; i=$((i + 1)); done) >/dev/null 2>&1 & p=$!; `
    + `out=$(mosquitto_sub ${AUTH} -t ${topic} -C 1 -W 15); kill $p 2>/dev/null; [ "$out" = ${message} ]`;
}

/**
 * Eclipse Mosquitto 2.0: MQTT on 1883 with a password file (no anonymous clients), retained
 * messages and sessions persisted in /var/lib/mosquitto, and a root-only unix socket whose
 * anonymous clients may only read `$SYS` topics (the health check).
 * @param base the base layer
 */
function mosquitto(base: Base) {
  return defineAppliance({
    name: 'mosquitto',
    version: '2.0',
    description: 'Eclipse Mosquitto MQTT broker',
    base,
    architectures: ['amd64', 'arm64'],
    // procps: /bin/kill, which the packaged unit's ExecReload runs (minbase has none).
    packages: ['mosquitto', 'mosquitto-clients', 'procps'],
    services: ['mosquitto'],
    files: [
      { source: 'mosquitto.conf', path: '/etc/mosquitto/mosquitto.conf' },
      { source: 'local.acl', path: '/etc/mosquitto/local.acl' },
      { source: 'systemd-override.conf', path: '/etc/systemd/system/mosquitto.service.d/appliance.conf' },
    ],
    actions: [{
      trigger: 'post-files',
      script: `#!/bin/sh
set -eu
chown mosquitto:mosquitto /etc/mosquitto/local.acl
chmod 0600 /etc/mosquitto/local.acl
# The packaged examples and the unused log folder (logs go to the journal).
rm -f /etc/mosquitto/*.example
rm -rf /var/log/mosquitto
install -d -o mosquitto -g mosquitto -m 0750 /var/lib/mosquitto
`,
    }],
    ports: [{ port: 1883, description: 'MQTT (username and password required)' }],
    volumes: [{ path: '/var/lib/mosquitto', description: 'the persistence file (retained messages, persistent sessions, queued messages)' }],
    settings: {
      username: {
        description: 'MQTT user name of the account written to the password file (letters, digits and . _ @ -).',
        default: 'mqtt',
        example: EXAMPLE.username,
        type: kinds.pattern('[A-Za-z0-9._@-]{1,64}', 'letters, digits and . _ @ - (at most 64)'),
        change: { value: CHANGED.username, check: `grep -q '^${CHANGED.username}:' ${PASSWD} && ${publishAs(CHANGED.username, CHANGED.password)}` },
      },
      password: {
        description: 'Password of `username`, stored only as a salted PBKDF2-SHA512 hash in /var/lib/mosquitto/passwd (with the data). Without it nobody can log in on port 1883.',
        secret: true,
        example: EXAMPLE.password,
        type: kinds.string({ maxLength: 512 }),
        change: { value: CHANGED.password, check: publishAs(CHANGED.username, CHANGED.password) },
      },
    },
    keptChanges: [{
      name: 'a password changed inside with mosquitto_passwd',
      change: `mosquitto_passwd -b ${PASSWD} ${EXAMPLE.username} '${CHANGED.inside}' && chown mosquitto:mosquitto ${PASSWD} && systemctl reload mosquitto && sleep 1 && ${publishAs(EXAMPLE.username, CHANGED.inside)}`,
      check: publishAs(EXAMPLE.username, CHANGED.inside),
    }],
    keptData: {
      name: 'a retained message in the persistence file',
      change: `mosquitto_pub ${AUTH} -t appliance/upgrade -m kept-across-rebuild -r -q 1`,
      // After keptChanges: the password changed inside.
      check: `out=$(mosquitto_sub -h 127.0.0.1 -p 1883 -u ${EXAMPLE.username} -P '${CHANGED.inside}' -t appliance/upgrade -C 1 -W 10) && [ "$out" = kept-across-rebuild ]`,
    },
    newerData: {
      name: 'a mosquitto.db of persistence format 99',
      // Stopped first: mosquitto writes its own format when it stops.
      change: `systemctl stop mosquitto && cp -p ${DB} ${DB}.kept && printf '\\143' | dd of=${DB} bs=1 seek=22 count=1 conv=notrunc status=none`,
      refusal: "mosquitto.db is persistence format 99; this image's mosquitto reads formats up to 6",
      undo: `mv ${DB}.kept ${DB}`,
    },
    configure: 'configure.sh',
    health: { command: `mosquitto_sub --unix ${SOCKET} -t '$SYS/broker/version' -C 1 -W 5 | grep -q mosquitto`, timeout: 60 },
    tests: [
      {
        name: 'a publish/subscribe round trip works with the account given at launch',
        command: roundTrip('appliance/test', 'hello-appliance'),
      },
      {
        name: 'a client without a password is refused',
        command: "mosquitto_pub -h 127.0.0.1 -p 1883 -t appliance/test -m x 2>&1 | grep -qi 'not authori[sz]ed'",
      },
      {
        name: 'a wrong password is refused',
        command: `mosquitto_pub -h 127.0.0.1 -p 1883 -u ${EXAMPLE.username} -P wrong-password -t appliance/test -m x 2>&1 | grep -qi 'not authori[sz]ed'`,
      },
      {
        name: 'the password is stored as a PBKDF2-SHA512 hash only',
        command: `grep -q '^${EXAMPLE.username}:\\$7\\$' ${PASSWD} && [ ! -e /etc/appliance/settings.d/password ] && ! grep -rqF '${EXAMPLE.password}' /etc/mosquitto /etc/appliance /var/lib/mosquitto`,
      },
      {
        name: 'systemctl reload mosquitto works (the packaged unit runs /bin/kill)',
        command: 'systemctl reload mosquitto && systemctl is-active -q mosquitto',
      },
      {
        name: 'a retained message survives a broker restart (persistence)',
        command: `mosquitto_pub ${AUTH} -t appliance/retained -m kept-across-restart -r -q 1 && systemctl restart mosquitto && `
          + `i=0; until out=$(mosquitto_sub ${AUTH} -t appliance/retained -C 1 -W 3 2>/dev/null); do i=$((i + 1)); [ $i -lt 20 ] || break; sleep 0.5; done; [ "$out" = kept-across-restart ] && [ -s ${DB} ]`,
      },
      {
        name: 'the persistence file is format 6, the newest configure.sh lets mosquitto open (DB_MAX)',
        command: `[ "$(od -An -tu1 -j19 -N4 ${DB} | tr -s ' ')" = ' 0 0 0 6' ]`,
      },
    ],
  });
}

/**
 * The published appliance: Debian 13 (trixie). No Alpine variant: it could not be built or tested
 * here (Alpine's mirror is unreachable).
 */
export default mosquitto(debian());
