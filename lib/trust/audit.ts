/**
 * The offline CVE audit: an image's SBOM against the Debian security tracker's JSON export
 * (`/tracker/data/json`: source package -> CVE -> {description, releases: {<codename>:
 * {status, repositories, fixed_version, urgency}}}), given by the user as a file. Pure: no
 * network, no clock.
 *
 * Per source package of the image (the tracker is keyed by source) and per CVE with an entry for
 * the image's release:
 * - `resolved` with a `fixed_version` newer than the installed source version (Debian's order,
 *   {@link compareDebVersions}): fixable, rebuilding the image picks the fix up;
 * - `resolved` with `fixed_version` "0" (never affected) or not newer: nothing;
 * - `open` or `undetermined`: no fix in that release yet, listed apart.
 * @module
 */
import { compareDebVersions } from './debversion.ts';
import type { InstalledPackage } from './packages.ts';

/** One release entry of a CVE in the tracker's export. */
export interface TrackerRelease {
  status?: string;
  repositories?: Record<string, string>;
  fixed_version?: string;
  urgency?: string;
  nodsa?: string;
  nodsa_reason?: string;
}

/** The tracker's export: source package -> CVE id -> entry. */
export type TrackerData = Record<string, Record<string, { description?: string; scope?: string; debianbug?: number; releases?: Record<string, TrackerRelease> }>>;

/** Urgency levels in order; `not yet assigned` and `end-of-life` rank below `unimportant`. */
export const LEVELS = ['unimportant', 'low', 'medium', 'high'] as const;
export type Level = (typeof LEVELS)[number];

/** One CVE that concerns an image. */
export interface Finding {
  cve: string;
  source: string;
  /** Installed source version. */
  installed: string;
  /** The fixed version (fixable findings). */
  fixed?: string;
  /** `fixable`, `open` or `undetermined`. */
  state: 'fixable' | 'open' | 'undetermined';
  /** The tracker's urgency, `**` (NVD-assigned) removed. */
  urgency: string;
  description?: string;
  /** The binary packages of the image built from that source. */
  packages: string[];
}

/** Checks the top-level shape of a tracker export; throws a message naming the first bad entry. */
export function checkTracker(data: unknown): TrackerData {
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(data)) throw new Error('not a JSON object keyed by source package (the format of the tracker\'s /tracker/data/json)');
  for (const [src, cves] of Object.entries(data)) {
    if (!isObj(cves)) throw new Error(`"${src}": expected an object of CVE entries`);
    for (const [id, e] of Object.entries(cves)) {
      if (!isObj(e)) throw new Error(`"${src}" > "${id}": expected an object`);
      if (e.releases !== undefined && !isObj(e.releases)) throw new Error(`"${src}" > "${id}": releases must be an object`);
    }
  }
  return data as TrackerData;
}

/** The rank of an urgency for `--fail-on` (-1: unassigned, end-of-life, unknown). */
export function levelRank(urgency: string): number {
  return LEVELS.indexOf(urgency.replace(/\*+$/, '') as Level);
}

/**
 * The findings of one image: its packages (from its SBOM) against the tracker, for `release`
 * (the image's codename, e.g. `trixie`). Sorted by state, urgency (highest first), CVE id.
 * @throws Error naming the CVE when the tracker holds a version that is not a Debian version
 */
export function auditPackages(packages: InstalledPackage[], tracker: TrackerData, release: string): Finding[] {
  const bySource = new Map<string, { version: string; packages: string[] }>();
  for (const p of packages) {
    const s = bySource.get(p.source) ?? { version: p.sourceVersion, packages: [] };
    if (!s.packages.includes(p.name)) s.packages.push(p.name);
    bySource.set(p.source, s);
  }
  const out: Finding[] = [];
  for (const [source, s] of bySource) {
    const cves = Object.hasOwn(tracker, source) ? tracker[source] : undefined;
    if (!cves) continue;
    for (const [cve, entry] of Object.entries(cves)) {
      const rel = entry.releases?.[release];
      if (!rel) continue;
      const base = { cve, source, installed: s.version, urgency: (rel.urgency ?? 'not yet assigned').replace(/\*+$/, ''), description: entry.description, packages: [...s.packages].sort() };
      if (rel.status === 'open' || rel.status === 'undetermined') {
        out.push({ ...base, state: rel.status });
        continue;
      }
      if (rel.status !== 'resolved' || !rel.fixed_version || rel.fixed_version === '0') continue;
      let newer: boolean;
      try {
        newer = compareDebVersions(s.version, rel.fixed_version) < 0;
      } catch (e) {
        throw new Error(`${source} ${cve}: ${(e as Error).message}`);
      }
      if (newer) out.push({ ...base, state: 'fixable', fixed: rel.fixed_version });
    }
  }
  const stateOrder = { fixable: 0, open: 1, undetermined: 2 };
  return out.sort((a, b) => stateOrder[a.state] - stateOrder[b.state] || levelRank(b.urgency) - levelRank(a.urgency) || a.cve.localeCompare(b.cve) || a.source.localeCompare(b.source));
}
