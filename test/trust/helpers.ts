/**
 * Registries of fake images that carry SBOMs and provenance, for the trust tests: the image
 * files come from test/registry/fake-images.ts (tiny but real), the SBOM from lib/trust/sbom.ts
 * over a package list the test chooses.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuiltImage } from '../../lib/registry/api.ts';
import type { InstalledPackage } from '../../lib/trust/packages.ts';
import { makeSbom } from '../../lib/trust/sbom.ts';
import { makeProvenance } from '../../lib/trust/provenance.ts';
import { fakeImage, type FakeImageOptions } from '../registry/fake-images.ts';

/** `name version arch source sourceVersion` lines to packages. */
export function pkgs(lines: string): InstalledPackage[] {
  return lines.trim().split('\n').map((l) => {
    const [name, version, arch, source, sourceVersion] = l.trim().split(/\s+/);
    return { name, version, arch, source, sourceVersion };
  });
}

/** The planted nginx image of the audit fixture (test/fixtures/debian-tracker.json). */
export const NGINX_PACKAGES = pkgs(`
  libssl3t64 3.5.1-1 amd64 openssl 3.5.1-1
  openssl 3.5.1-1 amd64 openssl 3.5.1-1
  bsdutils 1:2.41-5 amd64 util-linux 2.41-5
  libmount1 2.41-5 amd64 util-linux 2.41-5
  diffutils 1:3.10-4 amd64 diffutils 1:3.10-4
  liblzma5 5.6.4-1 amd64 xz-utils 5.6.4-1
  libpcre2-8-0 10.45~rc1-1 amd64 pcre2 10.45~rc1-1
  bash 5.2.37-2+b10 amd64 bash 5.2.37-2
  tzdata 2025b-4 all tzdata 2025b-4
  libc6 2.41-12 amd64 glibc 2.41-12
  systemd 257.7-1 amd64 systemd 257.7-1
  nginx 1.26.3-3 amd64 nginx 1.26.3-3
`);

/** The planted redis image: a newer openssl. */
export const REDIS_PACKAGES = pkgs(`
  libssl3t64 3.5.4-1 amd64 openssl 3.5.4-1
  libc6 2.41-12 amd64 glibc 2.41-12
  redis-server 5:8.0.2-1 amd64 redis 5:8.0.2-1
`);

/** A fake image with an SBOM of `packages` (Debian 13 trixie) and a provenance statement. */
export async function attestedImage(dir: string, packages: InstalledPackage[], o: FakeImageOptions = {}): Promise<BuiltImage> {
  const img = await fakeImage(dir, o);
  const out = join(img.rootfsPath, '..');
  const fingerprint = 'f'.repeat(64);
  writeFileSync(join(out, 'sbom.cdx.json'), makeSbom({ name: img.name, version: img.version, arch: img.arch, fingerprint, builtAt: img.builtAt, tool: { name: 'test', version: '0' } }, {
    manager: 'dpkg', packages, os: { id: 'debian', versionId: '13', codename: 'trixie', prettyName: 'Debian GNU/Linux 13 (trixie)' },
  }));
  writeFileSync(join(out, 'provenance.intoto.jsonl'), makeProvenance({
    target: `${img.name}:${img.arch}`, appliance: { name: img.name, version: img.version }, arch: img.arch, files: { 'rootfs.squashfs': 'a'.repeat(64) }, fingerprint, key: '0123456789abcdef',
    chain: [], inputs: {}, options: {}, context: {}, toolchain: { distrobuilder: '3.2', builder: 2, registry: '0', node: process.version }, startedOn: img.builtAt, finishedOn: img.builtAt,
  }));
  return { ...img, attachments: [{ ftype: 'sbom.cdx.json', path: join(out, 'sbom.cdx.json') }, { ftype: 'provenance.intoto.jsonl', path: join(out, 'provenance.intoto.jsonl') }] };
}
