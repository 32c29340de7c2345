/**
 * The SBOM of an image: a CycloneDX 1.6 JSON document listing every installed package of the
 * finished root filesystem, made with the CycloneDX project's own library (models, spec-aware
 * normalisation, reproducible sorted output) and package URLs made with the purl reference
 * library (percent-encoding of epochs `1:` and `+` done right). Reading one back for `sbom`
 * and `audit` needs only JSON.parse and {@link readSbom}.
 *
 * Each package: `pkg:deb/debian/<name>@<version>?arch=<arch>&distro=debian-13`, properties
 * `debian:source` and `debian:source_version` (the CVE audit compares source versions). The
 * image itself is `metadata.component` (type container, with its fingerprint); the distribution
 * is an operating-system component with its codename.
 * @module
 */
import { createHash } from 'node:crypto';
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import type { ImageContents, InstalledPackage } from './packages.ts';

/** Property names (the source package, the image fingerprint, the distribution's codename). */
export const PROP = {
  source: 'debian:source',
  sourceVersion: 'debian:source_version',
  apkOrigin: 'alpine:origin',
  fingerprint: 'incus-appliance:fingerprint',
  codename: 'incus-appliance:os_codename',
} as const;

/** The image an SBOM describes. */
export interface SbomSubject {
  name: string;
  version: string;
  arch: string;
  /** sha256(metadata ++ rootfs): the Incus fingerprint. */
  fingerprint: string;
  builtAt: Date;
  /** This tool's version, recorded as the SBOM's author tool. */
  tool: { name: string; version: string };
}

/** A name-based UUID (RFC 4122 version 5, SHA-1): the same image always gets the same serial number. */
function uuidFor(name: string): string {
  const h = createHash('sha1').update(Buffer.from('6ba7b811-9dad-11d1-80b4-00c04fd430c8'.replaceAll('-', ''), 'hex')).update(name).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The package URL of an installed package. */
export function purlOf(p: InstalledPackage, manager: 'dpkg' | 'apk', os: ImageContents['os']): string {
  const type = manager === 'dpkg' ? 'deb' : 'apk';
  const namespace = os.id || (manager === 'dpkg' ? 'debian' : 'alpine');
  const qualifiers: Record<string, string> = { arch: p.arch };
  if (os.id && os.versionId) qualifiers.distro = `${os.id}-${os.versionId}`;
  return new PackageURL(type, namespace, p.name, p.version, qualifiers, undefined).toString();
}

function packageComponent(p: InstalledPackage, c: ImageContents): Models.Component {
  const purl = purlOf(p, c.manager === 'apk' ? 'apk' : 'dpkg', c.os);
  const props = c.manager === 'apk'
    ? [new Models.Property(PROP.apkOrigin, p.source)]
    : [new Models.Property(PROP.source, p.source), new Models.Property(PROP.sourceVersion, p.sourceVersion)];
  return new Models.Component(Enums.ComponentType.Library, p.name, { version: p.version, purl, bomRef: purl, properties: new Models.PropertyRepository(props) });
}

/** The CycloneDX JSON text of an image's SBOM (sorted, stable: same image, same bytes). */
export function makeSbom(subject: SbomSubject, contents: ImageContents): string {
  const image = new Models.Component(Enums.ComponentType.Container, subject.name, {
    version: subject.version,
    bomRef: `image:${subject.name}:${subject.arch}`,
    properties: new Models.PropertyRepository([new Models.Property(PROP.fingerprint, subject.fingerprint), new Models.Property('incus-appliance:architecture', subject.arch)]),
  });
  const bom = new Models.Bom({
    serialNumber: `urn:uuid:${uuidFor(`${subject.fingerprint}`)}`,
    metadata: new Models.Metadata({
      timestamp: subject.builtAt,
      component: image,
      tools: new Models.Tools({ components: new Models.ComponentRepository([new Models.Component(Enums.ComponentType.Application, subject.tool.name, { version: subject.tool.version })]) }),
    }),
  });
  if (contents.os.id) {
    bom.components.add(new Models.Component(Enums.ComponentType.OperatingSystem, contents.os.id, {
      version: contents.os.versionId || undefined,
      bomRef: `os:${contents.os.id}`,
      description: contents.os.prettyName || undefined,
      properties: new Models.PropertyRepository(contents.os.codename ? [new Models.Property(PROP.codename, contents.os.codename)] : []),
    }));
  }
  for (const p of contents.packages) bom.components.add(packageComponent(p, contents));
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return serializer.serialize(bom, { sortLists: true, space: 1 }) + '\n';
}

/** One package as read back from an SBOM. */
export interface SbomPackage extends InstalledPackage {
  purl: string;
}

/** What {@link readSbom} returns. */
export interface SbomSummary {
  name: string;
  version: string;
  fingerprint: string;
  /** Distribution id, version and codename (`debian`, `13`, `trixie`). */
  os: { id: string; versionId: string; codename: string };
  packages: SbomPackage[];
}

type Json = Record<string, unknown>;
const props = (c: Json): Map<string, string> => new Map(((c.properties as Json[] | undefined) ?? []).map((p) => [String(p.name), String(p.value)]));

/**
 * Reads an SBOM we wrote (CycloneDX JSON). Throws a message naming the field when it is not one.
 */
export function readSbom(text: string): SbomSummary {
  let d: Json;
  try {
    d = JSON.parse(text) as Json;
  } catch (e) {
    throw new Error(`not JSON (${(e as Error).message})`);
  }
  if (d?.bomFormat !== 'CycloneDX' || !Array.isArray(d.components)) throw new Error('not a CycloneDX document (bomFormat, components)');
  const meta = ((d.metadata as Json | undefined)?.component ?? {}) as Json;
  const comps = d.components as Json[];
  const osc = comps.find((c) => c.type === 'operating-system') ?? {};
  const packages = comps.filter((c) => c.type === 'library' && typeof c.purl === 'string').map((c) => {
    const p = props(c);
    const arch = /[?&]arch=([^&]+)/.exec(String(c.purl))?.[1] ?? '';
    return {
      name: String(c.name), version: String(c.version ?? ''), arch: decodeURIComponent(arch), purl: String(c.purl),
      source: p.get(PROP.source) ?? p.get(PROP.apkOrigin) ?? String(c.name), sourceVersion: p.get(PROP.sourceVersion) ?? String(c.version ?? ''),
    };
  });
  return {
    name: String(meta.name ?? ''), version: String(meta.version ?? ''), fingerprint: props(meta).get(PROP.fingerprint) ?? '',
    os: { id: String(osc.name ?? ''), versionId: String(osc.version ?? ''), codename: props(osc).get(PROP.codename) ?? '' },
    packages,
  };
}
