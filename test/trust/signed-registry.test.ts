/**
 * The signed registry end to end on fake images: keygen, a signed re-index, `verify --key` on
 * the folder, a served URL and a published copy; and the failures a client must see: one byte
 * of images.json, index.json, an SBOM or an image changed, the signature missing, altered or
 * from another key, an expired index, a replayed older serial. Cross-checked with minisign.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addImages, readImages, resign } from '../../lib/registry/index.ts';
import { publish } from '../../lib/registry/publish.ts';
import { startServer } from '../../lib/serve/server.ts';
import { SIGNATURE_FILE } from '../../lib/trust/index-signature.ts';
import { keyPaths, loadSigningKey } from '../../lib/trust/keys.ts';
import { runCli } from '../helpers.ts';
import { withTools, scratch } from '../registry/fake-images.ts';
import { NGINX_PACKAGES, REDIS_PACKAGES, attestedImage } from './helpers.ts';

const T0 = Date.UTC(2026, 10, 26, 14, 5, 0);

/** A project folder with a key pair, and a signed registry of two attested images in it. */
async function signedRegistry(dir: string) {
  const kg = await runCli(['keygen'], { root: dir });
  assert.is(kg.code, 0, kg.stderr);
  const paths = keyPaths(dir, {});
  const key = loadSigningKey(paths)!;
  const reg = join(dir, 'registry');
  await addImages(reg, [
    await attestedImage(dir, NGINX_PACKAGES, { name: 'nginx', builtAt: new Date(T0) }),
    await attestedImage(dir, REDIS_PACKAGES, { name: 'redis', version: '8.0', builtAt: new Date(T0) }),
  ], { signing: { key }, catalogue: false });
  return { reg, pub: paths.pub, key, paths };
}

const verify = (reg: string, pub: string, ...more: string[]) => runCli(['verify', reg, '--key', pub, ...more]);

/** Flips one byte of a file, runs `fn`, puts the byte back. */
async function flipped(file: string, at: (b: Buffer) => number, fn: () => Promise<void>): Promise<void> {
  const orig = readFileSync(file);
  const b = Buffer.from(orig);
  const i = at(b);
  b[i] = b[i] === 0x20 ? 0x09 : b[i] ^ 0x01;
  writeFileSync(file, b);
  try {
    await fn();
  } finally {
    writeFileSync(file, orig);
  }
}

test('keygen: .keys/ 0700, secret 0600, public key printed; a second keygen refuses without --force', async () => {
  const s = scratch('trust-sign-');
  try {
    const r = await runCli(['keygen'], { root: s.dir });
    assert.is(r.code, 0, r.stderr);
    assert.is(statSync(join(s.dir, '.keys')).mode & 0o777, 0o700);
    assert.is(statSync(join(s.dir, '.keys/registry.key')).mode & 0o777, 0o600);
    assert.match(r.stdout, /\.keys\/registry\.pub/);
    assert.match(r.stdout, /untrusted comment: minisign public key [0-9A-F]{16}\nRW[A-Za-z0-9+/]{54}/);
    const again = await runCli(['keygen'], { root: s.dir });
    assert.is(again.code, 1);
    assert.match(again.stderr, /registry\.key exists: a new key would invalidate every client's pinned public key \(pass --force/);
    assert.is((await runCli(['keygen', '--force'], { root: s.dir })).code, 0);
  } finally {
    s.cleanup();
  }
});

test('verify --key: a fresh signed registry passes, with every fingerprint to pin', async () => {
  const s = scratch('trust-sign-');
  try {
    const { reg, pub } = await signedRegistry(s.dir);
    const r = await verify(reg, pub);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /signature: good, key [0-9A-F]{16}, serial \d+, signed \S+, expires \S+/);
    const images = await readImages(reg);
    for (const [k, p] of Object.entries(images.products)) {
      const [vk, v] = Object.entries(p.versions)[0];
      assert.ok(v.items['sbom.cdx.json'] && v.items['provenance.intoto.jsonl'], `${k}: SBOM and provenance are items of the version`);
      assert.match(r.stdout, new RegExp(`${k} ${vk} \\(\\S+\\) ${v.items['incus.tar.xz'].combined_squashfs_sha256}`));
    }
    assert.match(r.stdout, /incus launch appliance:[0-9a-f]{64} web/);
    assert.match(r.stdout, /verify: OK: 2 version\(s\), 8 file\(s\).*signature good/);
  } finally {
    s.cleanup();
  }
});

(await withTools(test, { cmd: 'minisign', why: 'the oracle of the signature format (apt-get install minisign)' }))('minisign itself verifies images.json with the public key, and prints the serial and expiry', async () => {
  const s = scratch('trust-sign-');
  try {
    const { reg, pub } = await signedRegistry(s.dir);
    const out = execFileSync('minisign', ['-Vm', join(reg, 'streams/v1/images.json'), '-p', pub], { encoding: 'utf8' });
    assert.match(out, /Trusted comment: incus-appliance-registry serial=\d+ signed=\S+ expires=\S+ index\.json-sha256=[0-9a-f]{64}/);
    const images = join(reg, 'streams/v1/images.json');
    await flipped(images, (b) => b.indexOf(0x20), async () => {
      assert.throws(() => execFileSync('minisign', ['-Vm', images, '-p', pub], { stdio: 'pipe' }), 'minisign refuses a changed images.json');
    });
  } finally {
    s.cleanup();
  }
});

test('verify --key fails with a clear message for one changed byte of images.json, index.json, an SBOM, an image', async () => {
  const s = scratch('trust-sign-');
  try {
    const { reg, pub } = await signedRegistry(s.dir);
    const images = await readImages(reg);
    const v = Object.values(images.products['nginx:amd64:default'].versions)[0];
    // A space turned into a tab: still valid JSON, every hash intact: only the signature can tell.
    await flipped(join(reg, 'streams/v1/images.json'), (b) => b.indexOf(0x20), async () => {
      const r = await verify(reg, pub);
      assert.is(r.code, 1);
      assert.match(r.stderr, /error: streams\/v1\/images\.json\.minisig: the signature does not match the file/);
    });
    await flipped(join(reg, 'streams/v1/index.json'), (b) => b.indexOf(0x20), async () => {
      const r = await verify(reg, pub);
      assert.is(r.code, 1);
      assert.match(r.stderr, /streams\/v1\/index\.json: sha256 [0-9a-f]{64} is not the signed [0-9a-f]{64}/);
    });
    await flipped(join(reg, v.items['sbom.cdx.json'].path), (b) => b.indexOf(0x61), async () => {
      const r = await verify(reg, pub);
      assert.is(r.code, 1);
      assert.match(r.stderr, /nginx:amd64:default \S+: item sbom\.cdx\.json: images\/[0-9a-f]{64}\.cdx\.json: sha256 [0-9a-f]{64}, index says/);
    });
    await flipped(join(reg, v.items['provenance.intoto.jsonl'].path), (b) => b.indexOf(0x61), async () => {
      assert.match((await verify(reg, pub)).stderr, /item provenance\.intoto\.jsonl: .*sha256 [0-9a-f]{64}, index says/);
    });
    await flipped(join(reg, v.items['root.squashfs'].path), (b) => b.length >> 1, async () => {
      const r = await verify(reg, pub);
      assert.is(r.code, 1);
      assert.match(r.stderr, /item root\.squashfs: .*sha256 [0-9a-f]{64}, index says/);
      assert.match(r.stderr, /combined_squashfs_sha256 \(fingerprint\)/);
    });
    assert.is((await verify(reg, pub)).code, 0, 'all restored');
  } finally {
    s.cleanup();
  }
});

test('verify --key fails: signature missing, altered trusted comment, another key, expired, replayed serial', async () => {
  const s = scratch('trust-sign-');
  try {
    const { reg, pub, key } = await signedRegistry(s.dir);
    const sigFile = join(reg, SIGNATURE_FILE);
    const sig = readFileSync(sigFile, 'utf8');
    rmSync(sigFile);
    let r = await verify(reg, pub);
    assert.is(r.code, 1);
    assert.match(r.stderr, /images\.json\.minisig: missing: the index is not signed/);
    assert.is((await runCli(['verify', reg])).code, 0, 'without --key the hashes alone still verify');

    writeFileSync(sigFile, sig.replace(/serial=(\d+)/, (_, n) => `serial=${Number(n) + 1000}`));
    assert.match((await verify(reg, pub)).stderr, /the trusted comment was changed after signing/);

    const other = scratch('trust-sign-other-');
    try {
      await runCli(['keygen'], { root: other.dir });
      writeFileSync(sigFile, sig);
      r = await verify(reg, join(other.dir, '.keys/registry.pub'));
      assert.is(r.code, 1);
      assert.match(r.stderr, /signed with key [0-9A-F]{16}, not with the given key [0-9A-F]{16}/);
    } finally {
      other.cleanup();
    }

    // Signed an hour ago for one minute: expired now.
    await resign(reg, { signing: { key, validMs: 60_000 }, now: () => new Date(Date.now() - 3_600_000), catalogue: false });
    r = await verify(reg, pub);
    assert.is(r.code, 1);
    assert.match(r.stderr, /the index expired on \S+ \(serial \d+, signed \S+\): an old index replayed, or a registry nobody re-signed/);

    // A replay: the old files come back after a newer index was seen.
    await resign(reg, { signing: { key }, catalogue: false });
    const oldImages = readFileSync(join(reg, 'streams/v1/images.json'));
    const oldSig = readFileSync(sigFile, 'utf8');
    const oldSerial = Number(/serial=(\d+)/.exec(oldSig)![1]);
    await addImages(reg, [await attestedImage(s.dir, NGINX_PACKAGES, { name: 'nginx', builtAt: new Date(T0 + 60_000) })], { signing: { key }, catalogue: false });
    const newSerial = Number(/serial=(\d+)/.exec(readFileSync(sigFile, 'utf8'))![1]);
    assert.ok(newSerial > oldSerial, `serials grow: ${oldSerial} -> ${newSerial}`);
    assert.is((await verify(reg, pub, '--min-serial', String(newSerial))).code, 0);
    writeFileSync(join(reg, 'streams/v1/images.json'), oldImages);
    writeFileSync(sigFile, oldSig);
    r = await verify(reg, pub, '--min-serial', String(newSerial), '--index-only');
    assert.is(r.code, 1);
    assert.match(r.stderr, new RegExp(`serial ${oldSerial} is older than ${newSerial}, the newest you have seen: an old index replayed`));
    assert.match((await runCli(['verify', reg, '--min-serial', '3'])).stderr, /--min-serial needs --key/);
    assert.match((await verify(reg, join(s.dir, 'nope.pub'))).stderr, /--key .*nope\.pub: no such file/);
  } finally {
    s.cleanup();
  }
});

test('sign renews the serial; without a key a re-index removes the stale signature; publish carries it', async () => {
  const s = scratch('trust-sign-');
  try {
    const { reg, pub, key } = await signedRegistry(s.dir);
    const serial = () => Number(/serial=(\d+)/.exec(readFileSync(join(reg, SIGNATURE_FILE), 'utf8'))![1]);
    const before = serial();
    const r = await runCli(['sign', '--registry', reg, '--valid', '7d'], { root: s.dir });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`signed .*images\\.json\\.minisig: serial ${before + 1}, expires `));
    assert.ok(serial() > before);
    assert.match((await runCli(['sign', '--registry', reg, '--valid', 'soon'], { root: s.dir })).stderr, /--valid: expected a duration/);
    assert.match((await runCli(['sign', '--registry', reg], { root: join(s.dir, 'registry') })).stderr, /no signing key at .*registry\.key: run `npx tsx build\.ts keygen` first/);

    const dest = join(s.dir, 'site');
    const steps = await publish(reg, dest);
    assert.equal(steps.filter((x) => x.op === 'write').map((x) => x.file).slice(-3), ['streams/v1/images.json', 'streams/v1/index.json', SIGNATURE_FILE], 'the signature right after the index it signs');
    assert.is((await verify(dest, pub)).code, 0);

    const events: string[] = [];
    await resign(reg, { catalogue: false, onEvent: (e) => events.push(`${e.type} ${'file' in e ? e.file : ''}`) });
    assert.ok(events.includes(`delete ${SIGNATURE_FILE}`), events.join('\n'));
    assert.match((await verify(reg, pub)).stderr, /missing: the index is not signed/);
    await resign(reg, { catalogue: false, signing: { key } });
    assert.is((await verify(reg, pub)).code, 0, 'signed again');
  } finally {
    s.cleanup();
  }
});

test('verify URL --key --ca against serve: the index, then every file downloaded and hashed; --index-only', async () => {
  const s = scratch('trust-sign-');
  const { reg, pub } = await signedRegistry(s.dir);
  const srv = await startServer({ registryDir: reg, host: '127.0.0.1', port: 0, certDir: join(s.dir, 'certs'), log: () => {} });
  try {
    const ca = srv.certificate.certPath;
    let r = await runCli(['verify', srv.url, '--key', pub, '--ca', ca]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /verify: OK: 2 version\(s\), 8 file\(s\), .* checked in https:\/\/127\.0\.0\.1:\d+, signature good/);
    r = await runCli(['verify', srv.url, '--key', pub, '--ca', ca, '--index-only']);
    assert.match(r.stdout, /verify: OK: index of 2 image\(s\) checked at https/);
    const images = await readImages(reg);
    const v = Object.values(images.products['redis:amd64:default'].versions)[0];
    copyFileSync(join(reg, v.items['sbom.cdx.json'].path), join(s.dir, 'sbom.bak'));
    writeFileSync(join(reg, v.items['sbom.cdx.json'].path), '{"tampered": true}\n');
    r = await runCli(['verify', srv.url, '--key', pub, '--ca', ca]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /redis:amd64:default \S+: item sbom\.cdx\.json: .*size \d+, index says/);
    r = await runCli(['verify', srv.url, '--key', pub]);
    assert.is(r.code, 1, 'a self-signed server without --ca is refused');
    assert.match(r.stderr, /error: https:\/\/127\.0\.0\.1:\d+\/streams\/v1\/index\.json: self[- ]signed certificate/i);
  } finally {
    await srv.close();
    s.cleanup();
  }
});

test.run();
