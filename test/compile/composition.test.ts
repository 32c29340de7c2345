/** Composition semantics of base layers and appliances (documented in docs/creating-appliances.md). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compile } from '../../lib/compile/compile.ts';
import { defineBase, type Appliance } from '../../lib/compile/model.ts';
import { debian } from '../../appliances/_base/debian.ts';

const ctx = { debianMirror: 'http://mirror.example/debian', alpineMirror: 'https://alpine-mirror.example/alpine' };
const files: Record<string, string> = { '/x/files/a.conf': 'appliance a\n' };
const read = (p: string) => {
  if (!(p in files)) throw new Error('ENOENT');
  return Buffer.from(files[p]);
};
const base = defineBase({
  ...debian(),
  packages: ['base-pkg'],
  services: ['base-svc', 'shared-svc'],
  files: [{ generator: 'dump', path: '/etc/a.conf', content: 'base a\n' }, { generator: 'dump', path: '/etc/b.conf', content: 'base b\n' }],
  actions: [{ trigger: 'post-packages', action: '#!/bin/sh\necho base-first\n' }],
  finalActions: [{ trigger: 'post-files', action: '#!/bin/sh\necho base-last\n' }],
});
const app: Appliance = {
  name: 'x', version: '1', description: 'x', base, architectures: ['amd64'], dir: '/x', module: '/x/appliance.ts',
  packages: ['app-pkg'], services: ['shared-svc', 'app-svc'],
  files: [{ source: 'a.conf', path: '/etc/a.conf' }],
  actions: [{ trigger: 'post-packages', script: '#!/bin/sh\necho app\n' }],
  health: { command: 'true' },
  raw: {
    files: [{ generator: 'dump', path: '/etc/raw.conf', content: 'raw\n' }],
    actions: [{ trigger: 'post-files', action: '#!/bin/sh\necho raw\n' }],
    packages: { sets: [{ packages: ['raw-pkg'], action: 'install' }] },
    image: { expiry: '90d' },
    source: { variant: 'buildd' },
  },
};

test('package sets: base (early), then appliance, then raw', () => {
  const d = compile(app, 'amd64', ctx, read).definition;
  assert.equal(d.packages.sets!.map((s) => s.packages[0]), ['base-pkg', 'app-pkg', 'raw-pkg']);
  assert.is(d.packages.sets![0].early, true);
});

test('files: the appliance overrides a base file of the same path; raw files come last', () => {
  const d = compile(app, 'amd64', ctx, read).definition;
  const a = d.files!.filter((f) => f.path === '/etc/a.conf');
  assert.is(a.length, 1);
  assert.is(a[0].content, 'appliance a\n');
  assert.ok(d.files!.some((f) => f.path === '/etc/b.conf'), 'other base files are kept');
  assert.is(d.files!.at(-1)!.path, '/etc/raw.conf');
});

test('actions: base, appliance, settings folders, service enabling, skipping the network wait, raw, then the base final actions', () => {
  const d = compile(app, 'amd64', ctx, read).definition;
  const order = d.actions!.map((a) => a.action.split('\n').slice(1).join(' ').trim());
  assert.is(order[0], 'echo base-first');
  assert.is(order[1], 'echo app');
  assert.match(order[2], /install -d -m 0700 -o root -g root \/etc\/appliance/, 'every image gets the guest command and its folders');
  assert.match(order[3], /systemctl enable base-svc\s+systemctl enable shared-svc\s+systemctl enable app-svc\s+systemctl enable appliance-settings/);
  assert.match(order[4], /systemctl mask systemd-networkd-wait-online\.service$/);
  assert.is(order[5], 'echo raw');
  assert.is(order.at(-1), 'echo base-last');
});

test('scalars: raw.image and raw.source override the base', () => {
  const d = compile(app, 'amd64', ctx, read).definition;
  assert.is(d.image.expiry, '90d');
  assert.is(d.source.variant, 'buildd');
  assert.is(d.source.url, ctx.debianMirror, 'untouched fields keep the base value');
});

test('services are enabled once each, base first', () => {
  const d = compile(app, 'amd64', ctx, read).definition;
  const enable = d.actions!.find((a) => a.action.includes('systemctl enable'))!.action;
  assert.is(enable.match(/shared-svc/g)!.length, 1);
});

test.run();
