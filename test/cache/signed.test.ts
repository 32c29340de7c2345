/**
 * Signed cache manifests, against a real nginx (test/cache/nginx.ts) and the fake distrobuilder:
 * a project with a signing key (`keygen`) uploads each manifest's minisign signature before the
 * manifest; a clean clone that pins the public key (`APPLIANCE_CACHE_PUBKEY`) fetches; a manifest
 * rewritten by a writer without the key, one signed for another node, and an unsigned one are not
 * used (named in a warning) and the node is built; without a pinned key nothing changes; a bad
 * `cache.publicKey` names the file and field. Skipped (reported) without the nginx package.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { project, type Project } from '../graph/project.ts';
import { nginxPath, startNginx, type CacheServer } from './nginx.ts';
import { parsePublicKey, verifyDetached } from '../../lib/trust/minisign.ts';

const NGINX = nginxPath();
let srv: CacheServer;
const projects: Project[] = [];
let pub: string;

function clone(): Project {
  const p = project();
  projects.push(p);
  return p;
}

/** The manifest file of `node` in the store. */
function manifestOf(node: string): string {
  for (const n of readdirSync(join(srv.data, 'manifests'))) {
    if (!n.endsWith('.json')) continue;
    const file = join(srv.data, 'manifests', n);
    if ((JSON.parse(readFileSync(file, 'utf8')) as { node: string }).node === node) return file;
  }
  throw new Error(`no manifest of ${node}`);
}

if (!NGINX) {
  process.stdout.write('skipped: the signed cache tests need the nginx package (apt-get install nginx); .ci/run installs it\n');
  test.skip('signed cache manifests');
} else {
  test.before(async () => {
    srv = await startNginx(NGINX);
  });
  test.after(async () => {
    for (const p of projects) p.cleanup();
    await srv?.stop();
  });

  test('a project with a signing key signs every manifest it uploads, signature first', async () => {
    const a = clone();
    // The scratch project's own key, whatever the environment names.
    const own = { APPLIANCE_SIGNING_KEY: '' };
    const k = await a.run(['keygen'], own);
    assert.is(k.code, 0, k.all);
    pub = join(a.dir, '.keys', 'registry.pub');
    const r = await a.run(['--no-index', 'nginx:amd64', '--cache', srv.rw], own);
    assert.is(r.code, 0, r.all);
    const key = parsePublicKey(readFileSync(pub, 'utf8'));
    const names = readdirSync(join(srv.data, 'manifests')).filter((n) => n.endsWith('.json'));
    assert.is(names.length, 3);
    for (const n of names) {
      const file = join(srv.data, 'manifests', n);
      const v = verifyDetached(readFileSync(file), readFileSync(`${file}.minisig`, 'utf8'), key);
      assert.ok(v.ok, n);
      const node = (JSON.parse(readFileSync(file, 'utf8')) as { node: string }).node;
      assert.is(v.ok && v.trustedComment, `appliance cache manifest ${node} ${n.replace(/\.json$/, '')}`);
    }
    const puts = readFileSync(join(srv.data, '..', 'access.log'), 'utf8').split('\n').filter((l) => /"PUT /.test(l)).map((l) => /"PUT \/rw\/(\S+)/.exec(l)![1]);
    for (const n of names) assert.ok(puts.indexOf(`manifests/${n}.minisig`) < puts.indexOf(`manifests/${n}`), `${n}: signature before manifest`);
  });

  test('a clean clone pinning the public key fetches the signed image', async () => {
    const b = clone();
    const r = await b.run(['--no-index', 'nginx:amd64', '--cache', srv.ro], { APPLIANCE_CACHE_PUBKEY: pub });
    assert.is(r.code, 0, r.all);
    assert.match(r.stdout, /^nginx:amd64: from cache in /m);
    assert.not.match(r.all, /not trusted/);
  });

  test('a manifest rewritten without the key, or signed for another node, is not used; the image is built', async () => {
    const file = manifestOf('nginx:amd64');
    const good = readFileSync(file);
    const sig = readFileSync(`${file}.minisig`);
    try {
      // A writer without the key: same entry, one field changed.
      writeFileSync(file, good.toString().replace(/"uploadedAt": "[^"]+"/, '"uploadedAt": "2020-01-01T00:00:00.000Z"'));
      const c = clone();
      const r = await c.run(['--no-index', 'nginx:amd64', '--cache', srv.ro], { APPLIANCE_CACHE_PUBKEY: pub });
      assert.is(r.code, 0, r.all);
      assert.match(r.all, /warning: cache: manifest of nginx:amd64 \(manifests\/\S+\.json\) is not trusted: signature: the signature does not match the file .*; building nginx:amd64/);
      assert.match(r.stdout, /^nginx:amd64: built in /m);
      // Another node's manifest and signature copied over this key's: valid signature, wrong node.
      const other = manifestOf('nginx:amd64/packages');
      writeFileSync(file, readFileSync(other));
      copyFileSync(`${other}.minisig`, `${file}.minisig`);
      const d = clone();
      const r2 = await d.run(['--no-index', 'nginx:amd64', '--cache', srv.ro], { APPLIANCE_CACHE_PUBKEY: pub });
      assert.is(r2.code, 0, r2.all);
      assert.match(r2.all, /is not trusted: signature: signed for "appliance cache manifest nginx:amd64\/packages \S+", not for nginx:amd64/);
    } finally {
      writeFileSync(file, good);
      writeFileSync(`${file}.minisig`, sig);
    }
  });

  test('an unsigned manifest is not used when a key is pinned, and used when none is', async () => {
    const file = manifestOf('nginx:amd64');
    const sig = readFileSync(`${file}.minisig`);
    rmSync(`${file}.minisig`);
    try {
      const e = clone();
      const r = await e.run(['--no-index', 'nginx:amd64', '--cache', srv.ro], { APPLIANCE_CACHE_PUBKEY: pub });
      assert.match(r.all, /manifest of nginx:amd64 .* is not trusted: it is not signed, and a public key is configured; building nginx:amd64/);
      const f = clone();
      const r2 = await f.run(['--no-index', 'nginx:amd64', '--cache', srv.ro]);
      assert.match(r2.stdout, /^nginx:amd64: from cache in /m, 'no key pinned: as before');
    } finally {
      writeFileSync(`${file}.minisig`, sig);
    }
    assert.ok(existsSync(`${file}.minisig`));
  });

  test('cache.publicKey and APPLIANCE_CACHE_PUBKEY errors name the field and the file', async () => {
    const g = clone();
    writeFileSync(join(g.dir, 'build.config.json'), JSON.stringify({ cache: { url: srv.ro, publicKey: 'keys/nope.pub' } }));
    const r = await g.run(['--no-index', '--dry-run', 'nginx:amd64']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /build\.config\.json: cache\.publicKey: \S+keys\/nope\.pub: no such file/);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
    writeFileSync(join(g.dir, 'bad.pub'), 'not a key\n');
    const r2 = await g.run(['--no-index', 'nginx:amd64', '--cache', srv.ro], { APPLIANCE_CACHE_PUBKEY: 'bad.pub' });
    assert.is(r2.code, 1);
    assert.match(r2.stderr, /APPLIANCE_CACHE_PUBKEY: \S+bad\.pub: not a minisign public key/);
  });
}

test.run();
