/**
 * Which cache a run uses (lib/cache/config.ts): flag over APPLIANCE_CACHE over build.config.json,
 * the read-only forms, `none`, and errors naming where the bad value is.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheFlagProblem, cacheSettings } from '../../lib/cache/config.ts';
import { UserError } from '../../lib/diagnostics.ts';

const root = mkdtempSync(join(tmpdir(), 'cch-config-'));
const config = (doc: unknown) => writeFileSync(join(root, 'build.config.json'), typeof doc === 'string' ? doc : JSON.stringify(doc));
const refused = (f: () => unknown, msg: string | RegExp) => {
  try {
    f();
  } catch (e) {
    assert.instance(e, UserError);
    if (typeof msg === 'string') assert.is((e as Error).message, msg);
    else assert.match((e as Error).message, msg);
    return;
  }
  assert.unreachable(`no error, expected: ${msg}`);
};
test.after(() => rmSync(root, { recursive: true, force: true }));

test('precedence: --cache, then APPLIANCE_CACHE, then build.config.json; none without any', () => {
  assert.is(cacheSettings(root, undefined, false, {}), undefined);
  config({ cache: 'http://file/' });
  assert.equal(cacheSettings(root, undefined, false, {}), { url: 'http://file/' });
  assert.equal(cacheSettings(root, undefined, false, { APPLIANCE_CACHE: 'http://env/' }), { url: 'http://env/' });
  assert.equal(cacheSettings(root, 'http://flag/', false, { APPLIANCE_CACHE: 'http://env/' }), { url: 'http://flag/' });
  assert.is(cacheSettings(root, 'none', false, { APPLIANCE_CACHE: 'http://env/' }), undefined);
});

test('read-only: --cache-ro, the ro+ URL form anywhere, readOnly in the file', () => {
  config({ cache: { url: 'http://file/', readOnly: true } });
  assert.equal(cacheSettings(root, undefined, false, {}), { url: 'http://file/', readOnly: true });
  assert.equal(cacheSettings(root, 'http://flag/', true, {}), { url: 'http://flag/', readOnly: true });
  assert.equal(cacheSettings(root, undefined, false, { APPLIANCE_CACHE: 'ro+https://u:p@env/' }), { url: 'https://u:p@env/', readOnly: true });
  config({ cache: 'ro+http://file/' });
  assert.equal(cacheSettings(root, undefined, false, {}), { url: 'http://file/', readOnly: true });
  assert.equal(cacheSettings(root, undefined, false, { APPLIANCE_CACHE_TIMEOUT: '2.5' }), { url: 'http://file/', readOnly: true, timeouts: { headers: 2500, idle: 2500 } });
});

test('bad settings name the file and field, the flag or the variable', () => {
  config('{ nope');
  refused(() => cacheSettings(root, undefined, false, {}), /^build\.config\.json: not valid JSON \(.*position 2.*\)$/);
  config({ cache: 5 });
  refused(() => cacheSettings(root, undefined, false, {}), 'build.config.json: cache: expected a URL or {"url": URL, "readOnly": true|false}');
  config({ cache: { url: 'http://x/', readOnly: 'yes' } });
  refused(() => cacheSettings(root, undefined, false, {}), 'build.config.json: cache.readOnly: expected true or false');
  config({});
  refused(() => cacheSettings(root, undefined, true, {}), '--cache-ro: no cache configured (give --cache URL, APPLIANCE_CACHE, or "cache" in build.config.json)');
  refused(() => cacheSettings(root, 'file:///srv/cache', false, {}), '--cache: the cache URL must be http:// or https://, got "file:"');
  refused(() => cacheSettings(root, undefined, false, { APPLIANCE_CACHE: 'cache.lan' }), 'APPLIANCE_CACHE: not a URL: "cache.lan" (expected http://host[:port]/path/)');
  refused(() => cacheSettings(root, 'http://x/', false, { APPLIANCE_CACHE_TIMEOUT: '0' }), 'APPLIANCE_CACHE_TIMEOUT: expected seconds (> 0), got "0"');
});

test('the --cache option check: none, a URL, ro+URL; anything else says why', () => {
  for (const ok of ['none', 'http://cache.lan:8080/', 'ro+https://u:p@cache.example.net/x/']) assert.is(cacheFlagProblem(ok), undefined, ok);
  assert.is(cacheFlagProblem('ro+ftp://x/'), 'the cache URL must be http:// or https://, got "ftp:"');
  assert.is(cacheFlagProblem('cache.lan'), 'not a URL: "cache.lan" (expected http://host[:port]/path/)');
});

test.run();
