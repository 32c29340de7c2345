/**
 * The SimpleStreams files as Incus and LXD read them (see docs/registry.md): types, the product
 * fields we write, version keys, and a strict shape check. One JSON type error (aliases as an
 * array, a size as a string) makes a client drop the WHOLE file silently, so everything we write
 * or read goes through {@link checkImagesJson}.
 * @module
 */
import type { BuiltImage } from './api.ts';
import { UserError } from '../diagnostics.ts';

/** Relative path of the product catalogue. */
/**
 * A registry that cannot be read or written as asked (a damaged index, a missing file, a name not
 * in it, an unreachable URL): the user's to fix, printed as a message.
 */
export class RegistryError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Where the product catalogue lives. */
export const IMAGES_JSON = 'streams/v1/images.json';
/** Relative path of the index (what clients fetch first). */
export const INDEX_JSON = 'streams/v1/index.json';
/** Folder of the content-addressed image files. */
export const IMAGES_DIR = 'images';

/** One file of a version. */
export interface Item {
  ftype: string;
  path: string;
  sha256: string;
  size: number;
  combined_squashfs_sha256?: string;
}

/** One version (build) of a product. */
export interface Version {
  items: Record<string, Item>;
  /** Standard, optional; shown in `incus image list` descriptions. We do not set it. */
  label?: string;
  /**
   * Non-standard: the appliance version this build packaged (the product's `release` always
   * names the newest). Clients ignore unknown fields; `registry-list` shows it.
   */
  appliance_version?: string;
}

/** One product: an appliance x architecture. */
export interface Product {
  aliases: string;
  arch: string;
  os: string;
  release: string;
  release_title: string;
  variant: string;
  requirements: Record<string, string>;
  versions: Record<string, Version>;
}

/** streams/v1/images.json */
export interface ImagesJson {
  content_id: 'images';
  datatype: 'image-downloads';
  format: 'products:1.0';
  products: Record<string, Product>;
}

/** streams/v1/index.json */
export interface IndexJson {
  format: 'index:1.0';
  index: { images: { datatype: 'image-downloads'; path: string; format: 'products:1.0'; products: string[] } };
}

/** Root item ftype and item key of the squashfs. */
export const ROOT_FTYPE = 'squashfs';
export const ROOT_ITEM = 'root.squashfs';

/**
 * Architecture names Incus accepts in `arch` (Debian names and kernel names, from
 * shared/osarch). A product with any other name is silently skipped by clients.
 */
export const KNOWN_ARCHES: ReadonlySet<string> = new Set([
  'amd64', 'arm64', 'armhf', 'armel', 'i386', 'ppc64el', 'riscv64', 's390x',
  'x86_64', 'aarch64', 'armv7l', 'armv6l', 'i686', 'ppc64le', 'ppc', 'ppc64', 'mips', 'mips64', 'loongarch64',
]);

/** The one variant we publish (containers); a VM image would get its own. */
export const VARIANT = 'default';

/** An empty catalogue. */
export function emptyImages(): ImagesJson {
  return { content_id: 'images', datatype: 'image-downloads', format: 'products:1.0', products: {} };
}

/** Product key of an appliance x architecture: `<name>:<arch>:default`. */
export function productKey(name: string, arch: string, variant = VARIANT): string {
  return `${name}:${arch}:${variant}`;
}

/** Splits a product key back into name, arch and variant (undefined for a foreign key). */
export function parseProductKey(key: string): { name: string; arch: string; variant: string } | undefined {
  const parts = key.split(':');
  if (parts.length !== 3 || parts.some((p) => !p)) return undefined;
  return { name: parts[0], arch: parts[1], variant: parts[2] };
}

/** The aliases of an appliance: `name,name/<version>` (one string, comma-separated). */
export function aliasesOf(name: string, version: string): string {
  return `${name},${name}/${version}`;
}

/**
 * The product fields of an image. Incus builds the DESCRIPTION column as
 * `<os> <release_title> <arch> (<version key>)`, so `os` is the appliance name and
 * `release_title` says version and base: "nginx 1.26 on Debian 13 (trixie) amd64 (20261126_14:05)".
 */
export function productFields(img: Pick<BuiltImage, 'name' | 'version' | 'arch' | 'base'>): Omit<Product, 'versions'> {
  return {
    aliases: aliasesOf(img.name, img.version),
    arch: img.arch,
    os: img.name,
    release: img.version,
    release_title: `${img.version} on ${img.base.title}`,
    variant: VARIANT,
    requirements: {},
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYYMMDD_HH:MM` of a date, in UTC (the lxc-ci form; Incus parses the first 8 characters). */
export function versionBase(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** A version key: base `YYYYMMDD_HH:MM`, optionally `_NNN` for later builds of the same minute. */
export const VERSION_KEY = /^(\d{8})_(\d{2}):(\d{2})(?:_(\d{3}))?$/;

/**
 * A version key for a build finished at `builtAt`, distinct from `taken`. Builds of one minute
 * get `_001`, `_002`, ...: clients sort version keys as strings, descending, and the newest
 * claims the aliases; a longer key with the same prefix sorts after (newer), and the fixed
 * width keeps `_010` after `_009`.
 */
export function nextVersionKey(builtAt: Date, taken: Iterable<string>): string {
  const base = versionBase(builtAt);
  let max = -1;
  for (const k of taken) {
    if (k === base) max = Math.max(max, 0);
    else if (k.startsWith(base + '_')) {
      const n = Number(k.slice(base.length + 1));
      if (Number.isInteger(n)) max = Math.max(max, n);
    }
  }
  if (max < 0) return base;
  if (max >= 999) throw new Error(`more than 999 builds of one product in the minute ${base}`);
  return `${base}_${pad(max + 1, 3)}`;
}

/** The date of a version key (UTC), or undefined when it does not parse (clients skip it). */
export function versionDate(key: string): Date | undefined {
  const m = VERSION_KEY.exec(key);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1].slice(0, 4)), Number(m[1].slice(4, 6)), Number(m[1].slice(6, 8))];
  const date = new Date(Date.UTC(y, mo - 1, d, Number(m[2]), Number(m[3])));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d ? date : undefined;
}

/** Version keys of a product, newest first (the order clients use). */
export function versionsNewestFirst(p: Product): string[] {
  return Object.keys(p.versions).sort().reverse();
}

/** The fingerprint of a version (the combined hash on its Incus metadata item). */
export function fingerprintOf(v: Version): string | undefined {
  return v.items['incus.tar.xz']?.combined_squashfs_sha256;
}

/** Every file path (relative to the registry) a catalogue references. */
export function referencedFiles(images: ImagesJson): Set<string> {
  const out = new Set<string>();
  for (const p of Object.values(images.products)) for (const v of Object.values(p.versions)) for (const i of Object.values(v.items)) out.add(i.path);
  return out;
}

/** The index for a catalogue. */
export function indexFor(images: ImagesJson): IndexJson {
  return {
    format: 'index:1.0',
    index: { images: { datatype: 'image-downloads', path: IMAGES_JSON, format: 'products:1.0', products: Object.keys(images.products).sort() } },
  };
}


const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks the JSON types and invariants of a parsed images.json exactly where clients are strict.
 * @returns problems, each naming the product/version/item; empty when the shape is right
 */
export function checkImagesJson(data: unknown): string[] {
  const errs: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(data)) return ['images.json: not a JSON object'];
  if (data.format !== 'products:1.0') errs.push(`images.json: format is ${JSON.stringify(data.format)}, expected "products:1.0"`);
  if (data.datatype !== 'image-downloads') errs.push(`images.json: datatype is ${JSON.stringify(data.datatype)}, expected "image-downloads"`);
  if (!isObj(data.products)) return [...errs, 'images.json: products is not an object'];
  const aliasOwner = new Map<string, string>();
  for (const [key, p] of Object.entries(data.products)) {
    const at = `product ${key}`;
    if (!isObj(p)) { errs.push(`${at}: not an object`); continue; }
    for (const f of ['aliases', 'arch', 'os', 'release', 'release_title', 'variant'] as const) {
      if (typeof p[f] !== 'string') errs.push(`${at}: ${f} must be a string, got ${JSON.stringify(p[f])}`);
    }
    if (typeof p.arch === 'string' && !KNOWN_ARCHES.has(p.arch)) errs.push(`${at}: arch "${p.arch}" is unknown to Incus (the product would be skipped)`);
    if (p.requirements !== undefined) {
      if (!isObj(p.requirements)) errs.push(`${at}: requirements must be an object`);
      else for (const [k, v] of Object.entries(p.requirements)) if (typeof v !== 'string') errs.push(`${at}: requirements.${k} must be a string, got ${JSON.stringify(v)}`);
    }
    if (typeof p.aliases === 'string' && p.aliases) {
      for (const a of p.aliases.split(',')) {
        const k = `${a}@${String(p.arch)}`;
        const other = aliasOwner.get(k);
        if (other) errs.push(`${at}: alias "${a}" is also on ${other} (same architecture ${String(p.arch)})`);
        else aliasOwner.set(k, key);
      }
    }
    if (!isObj(p.versions)) { errs.push(`${at}: versions must be an object`); continue; }
    for (const [vk, v] of Object.entries(p.versions)) {
      const vat = `${at} version ${vk}`;
      if (!versionDate(vk)) errs.push(`${vat}: version key must be YYYYMMDD_HH:MM[_NNN] (clients skip it otherwise)`);
      if (!isObj(v) || !isObj(v.items)) { errs.push(`${vat}: items must be an object`); continue; }
      if (v.label !== undefined && typeof v.label !== 'string') errs.push(`${vat}: label must be a string`);
      for (const [ik, it] of Object.entries(v.items)) {
        const iat = `${vat} item ${ik}`;
        if (!isObj(it)) { errs.push(`${iat}: not an object`); continue; }
        for (const f of ['ftype', 'path', 'sha256'] as const) if (typeof it[f] !== 'string') errs.push(`${iat}: ${f} must be a string`);
        if (!Number.isSafeInteger(it.size) || (it.size as number) < 0) errs.push(`${iat}: size must be a non-negative integer, got ${JSON.stringify(it.size)}`);
        if (typeof it.sha256 === 'string' && !HEX64.test(it.sha256)) errs.push(`${iat}: sha256 is not 64 hex digits`);
        if (typeof it.path === 'string' && (it.path.startsWith('/') || it.path.split('/').includes('..'))) errs.push(`${iat}: path "${it.path}" leaves the registry`);
        if (it.combined_squashfs_sha256 !== undefined && (typeof it.combined_squashfs_sha256 !== 'string' || !HEX64.test(it.combined_squashfs_sha256))) errs.push(`${iat}: combined_squashfs_sha256 is not 64 hex digits`);
      }
      const incus = v.items['incus.tar.xz'] as Record<string, unknown> | undefined;
      const lxd = v.items['lxd.tar.xz'] as Record<string, unknown> | undefined;
      const root = v.items[ROOT_ITEM] as Record<string, unknown> | undefined;
      if (!incus) errs.push(`${vat}: no incus.tar.xz item (Incus would not see it)`);
      if (!lxd) errs.push(`${vat}: no lxd.tar.xz item (LXD would not see it)`);
      if (!root) errs.push(`${vat}: no ${ROOT_ITEM} item`);
      if (incus && incus.ftype !== 'incus.tar.xz') errs.push(`${vat}: item incus.tar.xz has ftype ${JSON.stringify(incus.ftype)}`);
      if (lxd && lxd.ftype !== 'lxd.tar.xz') errs.push(`${vat}: item lxd.tar.xz has ftype ${JSON.stringify(lxd.ftype)}`);
      if (root && root.ftype !== ROOT_FTYPE) errs.push(`${vat}: item ${ROOT_ITEM} has ftype ${JSON.stringify(root.ftype)}`);
      if (incus && root && typeof incus.combined_squashfs_sha256 !== 'string') errs.push(`${vat}: incus.tar.xz has no combined_squashfs_sha256 (the image would be dropped)`);
      if (incus && lxd) {
        for (const f of ['path', 'sha256', 'size', 'combined_squashfs_sha256']) {
          if (incus[f] !== lxd[f]) errs.push(`${vat}: lxd.tar.xz ${f} differs from incus.tar.xz`);
        }
      }
    }
  }
  return errs;
}

/**
 * Checks a parsed index.json against the catalogue it points to. A product list that drifts from
 * images.json (a re-index interrupted between the two renames) is only a warning: clients read
 * every product of images.json; the list only has to be non-empty for them to fetch it.
 */
export function checkIndexJson(data: unknown, images: ImagesJson | undefined): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const d = data as IndexJson | undefined;
  const e = d?.index?.images;
  if (!d || d.format !== 'index:1.0' || !e) return { errors: ['index.json: expected {"format":"index:1.0","index":{"images":{...}}}'], warnings };
  if (e.datatype !== 'image-downloads') errors.push('index.json: images.datatype must be "image-downloads"');
  if (e.path !== IMAGES_JSON) errors.push(`index.json: images.path is ${JSON.stringify(e.path)}, expected "${IMAGES_JSON}"`);
  if (!Array.isArray(e.products) || e.products.some((p) => typeof p !== 'string')) {
    errors.push('index.json: images.products must be an array of strings');
  } else if (images) {
    for (const p of e.products) if (!images.products[p]) warnings.push(`index.json: lists product ${p}, which images.json does not have`);
    for (const p of Object.keys(images.products)) if (!e.products.includes(p)) warnings.push(`index.json: does not list product ${p} (clients still see it unless the list is empty)`);
    if (e.products.length === 0 && Object.keys(images.products).length > 0) warnings.push('index.json: empty product list: clients will not fetch images.json until the next re-index');
  }
  return { errors, warnings };
}
