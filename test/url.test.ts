/** lib/url.ts: one rule for hosts in URLs (was three helpers that differed on IPv6). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bareHost, connectHost, urlHost } from '../lib/url.ts';

test('urlHost brackets IPv6 literals only', () => {
  assert.is(urlHost('::1'), '[::1]');
  assert.is(urlHost('fd42:1::5'), '[fd42:1::5]');
  assert.is(urlHost('127.0.0.1'), '127.0.0.1');
  assert.is(urlHost('registry.lan'), 'registry.lan');
});

test('connectHost: the wildcards become loopback, the rest as urlHost', () => {
  assert.is(connectHost('0.0.0.0'), '127.0.0.1');
  assert.is(connectHost('::'), '[::1]');
  assert.is(connectHost('fd42:1::5'), '[fd42:1::5]');
  assert.is(connectHost('10.0.0.2'), '10.0.0.2');
});

test('bareHost undoes the brackets of a URL hostname, and round-trips with urlHost', () => {
  assert.is(bareHost(new URL('https://[::1]:8443/').hostname), '::1');
  assert.is(bareHost(new URL('https://registry.lan:8443/').hostname), 'registry.lan');
  for (const h of ['::1', '10.0.0.2', 'registry.lan']) assert.is(bareHost(new URL(`https://${urlHost(h)}:1/`).hostname), h);
});

test.run();
