/**
 * The test verb's network-wait verdict (lib/runtime/network-wait.ts) on what systemd records:
 * `systemctl show` output as seen in launched containers (nginx masked, haproxy waiting).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { judgeNetworkWait, parseUnitStarts, unitName } from '../../lib/runtime/network-wait.ts';

// nginx:amd64, the wait masked (systemctl show of a masked unit: inactive, zero timestamps).
const MASKED = `Id=systemd-networkd-wait-online.service
ActiveState=inactive
InactiveExitTimestampMonotonic=0
ActiveEnterTimestampMonotonic=0

Id=nginx.service
ActiveState=active
InactiveExitTimestampMonotonic=612345
ActiveEnterTimestampMonotonic=702345
`;
// haproxy:amd64: the wait ran from 0.41 s to 1.52 s, haproxy began at 1.53 s.
const RAN = `Id=systemd-networkd-wait-online.service
ActiveState=active
InactiveExitTimestampMonotonic=410000
ActiveEnterTimestampMonotonic=1520000

Id=haproxy.service
ActiveState=active
InactiveExitTimestampMonotonic=1530000
ActiveEnterTimestampMonotonic=1600000
`;
const split = (text: string) => {
  const units = parseUnitStarts(text);
  return [units.filter((u) => u.id.endsWith('-wait-online.service')), units.filter((u) => !u.id.endsWith('-wait-online.service'))] as const;
};

test('parses systemctl show blocks', () => {
  assert.equal(parseUnitStarts(RAN), [
    { id: 'systemd-networkd-wait-online.service', state: 'active', startedAt: 410000, activeAt: 1520000 },
    { id: 'haproxy.service', state: 'active', startedAt: 1530000, activeAt: 1600000 },
  ]);
  assert.is(unitName('postgresql@17-main'), 'postgresql@17-main.service');
  assert.is(unitName('nginx.socket'), 'nginx.socket');
});

test('no waitForNetwork: passes when no wait ran', () => {
  const [waits, services] = split(MASKED);
  assert.ok(judgeNetworkWait({}, waits, services).pass);
  assert.ok(judgeNetworkWait({}, [], services).pass, 'no wait-online unit loaded at all');
});

test('no waitForNetwork: fails when the wait ran, naming it and the services it held back', () => {
  const [waits, services] = split(RAN);
  const r = judgeNetworkWait({}, waits, services);
  assert.not.ok(r.pass);
  assert.match(r.output!, /systemd-networkd-wait-online\.service ran \(active, for 1\.11 s\); started after it: haproxy\.service \(0\.01 s after it ended\)/);
  assert.match(r.output!, /set waitForNetwork to say why/);
  // Still running when the health check passed: the wait is on its way, not allowed either.
  const running = judgeNetworkWait({}, [{ id: 'systemd-networkd-wait-online.service', state: 'activating', startedAt: 400000, activeAt: 0 }], []);
  assert.not.ok(running.pass);
});

test('waitForNetwork: passes only when the wait ran and ended before every service began', () => {
  const why = { waitForNetwork: 'backends are resolved once, at start' };
  const [waits, services] = split(RAN);
  const ok = judgeNetworkWait(why, waits, services);
  assert.ok(ok.pass, ok.output);
  assert.match(ok.name, /waitForNetwork: backends are resolved once, at start/);
  const masked = split(MASKED);
  const none = judgeNetworkWait(why, masked[0], masked[1]);
  assert.not.ok(none.pass);
  assert.match(none.output!, /no \*-wait-online unit became active \(systemd-networkd-wait-online\.service: inactive\)/);
  const early = judgeNetworkWait(why, waits, [{ id: 'haproxy.service', state: 'active', startedAt: 900000, activeAt: 950000 }]);
  assert.not.ok(early.pass);
  assert.match(early.output!, /started before the wait ended: haproxy\.service \(0\.62 s before\)/);
});

test.run();
