/** `registry-list`: what the registry publishes (alias, version, arch, type, size, fingerprint, date). */
import { defineVerb, opt } from '../cli.ts';
import { readImages } from '../registry/index.ts';
import { ROOT_ITEM, fingerprintOf, versionDate, versionsNewestFirst } from '../registry/format.ts';
import { formatBytes } from '../format.ts';
import { REGISTRY_OPTION, registryDirOf } from '../registry/options.ts';
import { table } from './list.ts';

/** One published image. */
export interface RegistryRow {
  /** Aliases it owns (only the newest version of a product owns them), else empty. */
  aliases: string[];
  name: string;
  /** Appliance version packaged. */
  version: string;
  /** SimpleStreams version key. */
  serial: string;
  arch: string;
  type: 'container';
  /** Metadata + rootfs bytes. */
  size: number;
  fingerprint: string;
  /** Build date from the version key (UTC, minute precision). */
  date: string;
  product: string;
}

/** Rows of a registry, products sorted by name then arch, versions newest first. */
export async function registryRows(registryDir: string): Promise<RegistryRow[]> {
  const images = await readImages(registryDir);
  const rows: RegistryRow[] = [];
  for (const key of Object.keys(images.products).sort()) {
    const p = images.products[key];
    versionsNewestFirst(p).forEach((serial, i) => {
      const v = p.versions[serial];
      const meta = v.items['incus.tar.xz'];
      const d = versionDate(serial);
      rows.push({
        aliases: i === 0 && p.aliases ? p.aliases.split(',') : [],
        name: p.os,
        version: v.appliance_version ?? p.release,
        serial,
        arch: p.arch,
        type: 'container',
        size: (meta?.size ?? 0) + (v.items[ROOT_ITEM]?.size ?? 0),
        fingerprint: fingerprintOf(v) ?? '',
        date: d ? d.toISOString().slice(0, 16).replace('T', ' ') : '?',
        product: key,
      });
    });
  }
  return rows;
}

export const registryListVerb = defineVerb({
  name: 'registry-list',
  summary: 'list the images the registry publishes (alias, version, arch, type, size, fingerprint, date)',
  args: { max: 0 },
  usage: 'registry-list [--registry DIR] [--json]',
  options: { ...REGISTRY_OPTION, json: opt.boolean({ description: 'print JSON instead of a table' }) },
  examples: ['npx tsx build.ts registry-list', 'npx tsx build.ts registry-list --json'],
  async run(ctx) {
    const rows = await registryRows(registryDirOf(ctx));
    if (ctx.options.json) {
      ctx.stdout(JSON.stringify(rows, null, 2) + '\n');
      return 0;
    }
    if (rows.length === 0) {
      ctx.stdout(`the registry ${registryDirOf(ctx)} publishes no image yet\n`);
      return 0;
    }
    const out = [['ALIAS', 'VERSION', 'ARCH', 'TYPE', 'SIZE', 'FINGERPRINT', 'DATE (UTC)', 'SERIAL']];
    for (const r of rows) out.push([r.aliases.length ? r.aliases.join(', ') : `(${r.name}, older)`, r.version, r.arch, r.type, formatBytes(r.size), r.fingerprint.slice(0, 12), r.date, r.serial]);
    ctx.stdout(table(out));
    return 0;
  },
});
