/**
 * What the catalogue knows about an appliance beyond the SimpleStreams index: its description,
 * settings, ports, volumes, health check and README, taken from the declaration
 * (`appliances/<name>/appliance.ts`) when the registry receives a build of it, and kept in the
 * registry's `.catalogue.json` (a dot file: never served nor published). Later re-indexes
 * (retention, dropped targets) reuse the record, so a page describes the declaration that was
 * built, not whatever the working tree holds today.
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuiltImage } from '../registry/api.ts';
import type { HealthCheck, Port, Setting, Volume } from '../compile/model.ts';

/** The record of one appliance, as stored in `.catalogue.json`. */
export interface ApplianceInfo {
  name: string;
  /** Appliance version the record describes (the build that recorded it). */
  version: string;
  description: string;
  /** Base title, e.g. "Debian 13 (trixie)". */
  base: string;
  /** False when the declaration could not be read: only the index's own fields are known. */
  declared: boolean;
  settings: Record<string, Setting>;
  ports: Port[];
  volumes: Volume[];
  health?: HealthCheck;
  /** Names of the end-to-end checks the `test` verb runs. */
  tests: string[];
  /** The appliance's README.md (Markdown), when it has one. */
  readme?: string;
}

/** Contents of `.catalogue.json`. */
export interface InfoFile {
  version: 1;
  appliances: Record<string, ApplianceInfo>;
}

/** The record file, relative to the registry. */
export const INFO_FILE = '.catalogue.json';

/** The appliances folder of the project this code belongs to (the default source of records). */
export const PROJECT_APPLIANCES_DIR = join(import.meta.dirname, '..', '..', 'appliances');

/** Reads `.catalogue.json`; absent or damaged means no records (they are rebuilt as builds come). */
export async function readInfoFile(registryDir: string): Promise<InfoFile> {
  try {
    const data = JSON.parse(await readFile(join(registryDir, INFO_FILE), 'utf8')) as Partial<InfoFile>;
    if (data && typeof data.appliances === 'object' && data.appliances) return { version: 1, appliances: { ...data.appliances } };
  } catch {
    /* absent or damaged: the pages fall back to the index's own fields */
  }
  return { version: 1, appliances: {} };
}

/** A record from the index's fields alone (no declaration available). */
export function bareInfo(name: string, version: string, description: string, base: string): ApplianceInfo {
  return { name, version, description, base, declared: false, settings: {}, ports: [], volumes: [], tests: [] };
}

/**
 * The record of an appliance from its declaration in `appliancesDir`, or undefined when there
 * is none, it does not load, or it declares another version than `version` (it changed since).
 */
export async function declaredInfo(appliancesDir: string, name: string, version: string): Promise<ApplianceInfo | undefined> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !existsSync(join(appliancesDir, name, 'appliance.ts'))) return undefined;
  // Loaded lazily: re-indexes of registries without declarations never import the model.
  const { loadAppliance } = await import('../compile/load.ts');
  const r = await loadAppliance(appliancesDir, name);
  if (!r.ok || r.appliance.version !== version) return undefined;
  const a = r.appliance;
  const readme = await readFile(join(a.dir, 'README.md'), 'utf8').catch(() => undefined);
  return {
    name,
    version,
    description: a.description,
    base: a.base.title,
    declared: true,
    settings: { ...(a.settings ?? {}) },
    ports: [...(a.ports ?? [])],
    volumes: [...(a.volumes ?? [])],
    health: a.health,
    tests: (a.tests ?? []).map((t) => t.name),
    ...(readme !== undefined ? { readme } : {}),
  };
}

/** The record of a freshly built image: its declaration when it matches, else the image's fields. */
export async function infoOfImage(img: BuiltImage, appliancesDir: string): Promise<ApplianceInfo> {
  return (await declaredInfo(appliancesDir, img.name, img.version)) ?? bareInfo(img.name, img.version, img.description, img.base.title);
}
