/**
 * The catalogue's view of the registry: one entry per appliance the index holds, with its
 * architectures and versions (fingerprints, sizes, dates, files), joined with the recorded
 * declaration. Pure: built from images.json and the records, nothing else, so a page can only
 * describe, and link to, what the index references.
 * @module
 */
import {
  ROOT_ITEM, VARIANT, fingerprintOf, parseProductKey, versionDate, versionsNewestFirst, type ImagesJson, type Item,
} from '../registry/format.ts';
import { bareInfo, type ApplianceInfo } from './info.ts';

/**
 * Extra files a version may carry (issue 12: SBOM, provenance, audit), by item ftype, with the
 * label of their link. A link is shown only when the index has such an item: the registry
 * stores every indexed item, so the link cannot be dead.
 */
export const ATTACHMENT_LABELS: Readonly<Record<string, string>> = {
  'sbom.spdx.json': 'SBOM (SPDX)',
  'sbom.cdx.json': 'SBOM (CycloneDX)',
  'provenance.intoto.jsonl': 'Provenance',
  'audit.json': 'Audit results',
};

/** A file of a version, by registry-relative path. */
export interface FileRef {
  label: string;
  path: string;
  size: number;
}

/** One version (build) of one architecture. */
export interface VersionView {
  key: string;
  date?: Date;
  applianceVersion: string;
  fingerprint: string;
  /** Download size: metadata + root filesystem. */
  size: number;
  files: FileRef[];
  attachments: FileRef[];
}

/** One architecture of an appliance; `versions` newest first. */
export interface ArchView {
  arch: string;
  versions: VersionView[];
}

/** One appliance of the catalogue. */
export interface ApplianceView {
  name: string;
  info: ApplianceInfo;
  /** Newest appliance version in the index. */
  version: string;
  base: string;
  archs: ArchView[];
  /** Date of the newest build of any architecture. */
  updated?: Date;
}

function versionView(key: string, items: Record<string, Item>, fallbackVersion: string, applianceVersion?: string): VersionView | undefined {
  const meta = items['incus.tar.xz'];
  const root = items[ROOT_ITEM];
  const fingerprint = fingerprintOf({ items });
  if (!meta || !root || !fingerprint) return undefined; // not an image clients would see
  const attachments = Object.values(items)
    .filter((i) => ATTACHMENT_LABELS[i.ftype])
    .map((i) => ({ label: ATTACHMENT_LABELS[i.ftype], path: i.path, size: i.size }));
  return {
    key,
    date: versionDate(key),
    applianceVersion: applianceVersion ?? fallbackVersion,
    fingerprint,
    size: meta.size + root.size,
    files: [
      { label: 'metadata', path: meta.path, size: meta.size },
      { label: 'rootfs', path: root.path, size: root.size },
    ],
    attachments,
  };
}

/**
 * The catalogue of an index: appliances sorted by name, architectures by name. Products of
 * other variants or foreign keys, and versions clients would skip, are left out.
 * @param infos recorded declarations by appliance name (missing ones fall back to the index)
 */
export function catalogueView(images: ImagesJson, infos: Readonly<Record<string, ApplianceInfo>>): ApplianceView[] {
  const byName = new Map<string, ApplianceView>();
  for (const [key, p] of Object.entries(images.products)) {
    const k = parseProductKey(key);
    if (!k || k.variant !== VARIANT) continue;
    const versions = versionsNewestFirst(p)
      .map((vk) => versionView(vk, p.versions[vk].items, p.release, p.versions[vk].appliance_version))
      .filter((v): v is VersionView => !!v);
    if (!versions.length) continue;
    const base = p.release_title.includes(' on ') ? p.release_title.slice(p.release_title.indexOf(' on ') + 4) : '';
    let view = byName.get(k.name);
    if (!view) {
      const info = infos[k.name] ?? bareInfo(k.name, p.release, `${k.name} ${p.release}`, base);
      view = { name: k.name, info, version: p.release, base: info.base || base, archs: [] };
      byName.set(k.name, view);
    }
    view.archs.push({ arch: p.arch, versions });
    const d = versions[0].date;
    if (d && (!view.updated || d > view.updated)) {
      view.updated = d;
      view.version = p.release; // the newest build names the current version
    }
  }
  const out = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const v of out) v.archs.sort((a, b) => a.arch.localeCompare(b.arch));
  return out;
}
