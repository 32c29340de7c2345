/**
 * The packages an image really holds, read from the finished root filesystem (not from the tree
 * it was packed on: the image layer's actions may install or remove packages). Only the package
 * databases and os-release are extracted from the squashfs (`unsquashfs` with a file list: a
 * fraction of a second), then read with `dpkg-query --admindir` (Debian) or parsed
 * (`lib/apk/db/installed`, Alpine).
 * @module
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** One installed package. */
export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
  /** Source package name and version (Debian; the origin package on Alpine). */
  source: string;
  sourceVersion: string;
}

/** What the image's os-release says (`ID`, `VERSION_ID`, `VERSION_CODENAME`, `PRETTY_NAME`). */
export interface ImageOs {
  id: string;
  versionId: string;
  codename: string;
  prettyName: string;
}

/** The packages and the distribution of an image. */
export interface ImageContents {
  /** `dpkg`, `apk`, or `none` when the image has no package database. */
  manager: 'dpkg' | 'apk' | 'none';
  packages: InstalledPackage[];
  os: ImageOs;
}

const FILES = ['var/lib/dpkg/status', 'lib/apk/db/installed', 'etc/os-release', 'usr/lib/os-release'];

/** Parses os-release (`KEY=value`, `KEY="value"`). */
export function parseOsRelease(text: string): ImageOs {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1], m[2].replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1'));
  }
  return { id: kv.get('ID') ?? '', versionId: kv.get('VERSION_ID') ?? '', codename: kv.get('VERSION_CODENAME') ?? '', prettyName: kv.get('PRETTY_NAME') ?? '' };
}

/** Parses Alpine's installed database (records of `P:` name, `V:` version, `A:` arch, `o:` origin). */
export function parseApkInstalled(text: string): InstalledPackage[] {
  return text.split(/\n\s*\n/).flatMap((rec) => {
    const f = new Map(rec.split('\n').filter((l) => l[1] === ':').map((l) => [l[0], l.slice(2)]));
    const name = f.get('P');
    const version = f.get('V');
    if (!name || !version) return [];
    return [{ name, version, arch: f.get('A') ?? '', source: f.get('o') ?? name, sourceVersion: version }];
  });
}

const DPKG_FORMAT = '${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\n';

/** The installed packages of a dpkg database folder, through `dpkg-query --admindir`. */
export async function dpkgPackages(admindir: string, signal?: AbortSignal): Promise<InstalledPackage[]> {
  const r = await execa('dpkg-query', [`--admindir=${admindir}`, '-W', `-f=${DPKG_FORMAT}`], { reject: false, cancelSignal: signal, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`dpkg-query --admindir=${admindir} failed: ${r.stderr.split('\n')[0] || (r.failed ? r.shortMessage : `exit ${r.exitCode}`)}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')).filter((f) => f[0] === 'installed')
    .map(([, name, version, arch, source, sourceVersion]) => ({ name, version, arch, source: source || name, sourceVersion: sourceVersion || version }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
}

async function unsquashfs(args: string[], squashfs: string, signal?: AbortSignal): Promise<string> {
  const r = await execa('unsquashfs', ['-n', ...args], { reject: false, cancelSignal: signal, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`unsquashfs ${squashfs} failed: ${(r.stderr || r.stdout).split('\n').find(Boolean) ?? (r.failed ? r.shortMessage : `exit ${r.exitCode}`)}`);
  return r.stdout;
}

/** Reads the packages and os-release of a root filesystem image (`rootfs.squashfs`). */
export async function imageContents(squashfs: string, signal?: AbortSignal): Promise<ImageContents> {
  const tmp = mkdtempSync(join(tmpdir(), 'appliance-sbom-'));
  try {
    const dir = join(tmp, 'root');
    // unsquashfs 4.5 crashes now and then when asked for a path the image lacks: list, then
    // extract only what is there.
    const listed = new Set((await unsquashfs(['-l', '-d', '', squashfs], squashfs, signal)).split('\n').map((l) => l.replace(/^\//, '')));
    const present = FILES.filter((f) => listed.has(f));
    if (present.length) await unsquashfs(['-q', '-d', dir, squashfs, ...present], squashfs, signal);
    const osFile = [join(dir, 'etc/os-release'), join(dir, 'usr/lib/os-release')].find((f) => existsSync(f));
    const os = parseOsRelease(osFile ? readFileSync(osFile, 'utf8') : '');
    if (existsSync(join(dir, 'var/lib/dpkg/status'))) return { manager: 'dpkg', packages: await dpkgPackages(join(dir, 'var/lib/dpkg'), signal), os };
    const apk = join(dir, 'lib/apk/db/installed');
    if (existsSync(apk)) return { manager: 'apk', packages: parseApkInstalled(readFileSync(apk, 'utf8')), os };
    return { manager: 'none', packages: [], os };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
