/**
 * The SBOMs a registry publishes, for `sbom` and `audit`: the newest version of each product
 * (or of the ones asked for), its SBOM item read and checked against its sha256 in the index.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readImages } from '../registry/index.ts';
import { fingerprintOf, parseProductKey, RegistryError, versionsNewestFirst } from '../registry/format.ts';
import { readSbom, type SbomSummary } from './sbom.ts';
import { SBOM_FILE } from './attest.ts';

/** The newest version of one product, with its SBOM when it has one. */
export interface PublishedImage {
  product: string;
  name: string;
  arch: string;
  /** Version key (serial of the build). */
  version: string;
  applianceVersion: string;
  fingerprint: string;
  sbom?: SbomSummary;
  /** Why there is no SBOM (built before SBOMs, or a file that does not match the index). */
  problem?: string;
}

/**
 * The newest version of every product matching `specs` (`name` or `name:arch`; none: all).
 * @throws RegistryError naming a spec that matches no product
 */
export async function publishedImages(registryDir: string, specs: string[]): Promise<PublishedImage[]> {
  const images = await readImages(registryDir);
  const keys = Object.keys(images.products).sort();
  const wanted = (name: string, arch: string) => specs.length === 0 || specs.some((s) => s === name || s === `${name}:${arch}`);
  for (const s of specs) {
    if (!keys.some((k) => { const p = parseProductKey(k); return p && (s === p.name || s === `${p.name}:${p.arch}`); })) {
      const names = [...new Set(keys.map((k) => parseProductKey(k)?.name).filter(Boolean))];
      throw new RegistryError(`"${s}" is not in the registry ${registryDir} (it holds: ${names.join(', ') || 'nothing'})`);
    }
  }
  const out: PublishedImage[] = [];
  for (const key of keys) {
    const k = parseProductKey(key);
    if (!k || !wanted(k.name, k.arch)) continue;
    const p = images.products[key];
    const version = versionsNewestFirst(p)[0];
    if (!version) continue;
    const v = p.versions[version];
    const img: PublishedImage = { product: key, name: k.name, arch: k.arch, version, applianceVersion: v.appliance_version ?? p.release, fingerprint: fingerprintOf(v) ?? '' };
    const item = v.items[SBOM_FILE];
    if (!item) img.problem = 'no SBOM (built before SBOMs existed: rebuild it)';
    else {
      const buf = await readFile(join(registryDir, item.path)).catch(() => undefined);
      if (!buf) img.problem = `${item.path}: missing`;
      else if (createHash('sha256').update(buf).digest('hex') !== item.sha256) img.problem = `${item.path}: does not match its sha256 in the index (run verify)`;
      else {
        try {
          img.sbom = readSbom(buf.toString('utf8'));
        } catch (e) {
          img.problem = `${item.path}: ${(e as Error).message}`;
        }
      }
    }
    out.push(img);
  }
  return out;
}
