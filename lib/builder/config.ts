/**
 * Which builder runs the nodes: `--builder REMOTE` on the command line, else the `builder`
 * section of the project's `build.config.json` (docs/scale.md, "Builders"):
 * ```json
 * { "builder": { "remote": "local", "jobs": 2, "project": "builds", "image": "ci:appliance-builder", "distrobuilder": "3.2" } }
 * ```
 * Only `remote` is required; `local` is this host's Incus daemon. On a cluster, `image` and
 * `target` may be given per architecture:
 * ```json
 * { "builder": { "remote": "ci", "image": { "arm64": "ci:appliance-builder-arm64" }, "target": { "arm64": "@arm", "amd64": "@x86" } } }
 * ```
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../diagnostics.ts';
import { ARCHES, type Arch } from '../arch.ts';

/** The project config file, at the project root. */
export const CONFIG_FILE = 'build.config.json';

/** A builder: an Incus remote whose containers run distrobuilder. */
export interface BuilderConfig {
  /** Incus remote name (`incus remote list`); `local` is this host's daemon. */
  remote: string;
  /** Incus project on that remote (a restricted project for CI credentials). @default the remote's current project */
  project?: string;
  /** Node builds at once on this builder (each in its own container). @default -j, else the build default */
  jobs?: number;
  /**
   * Builder image on the remote (`REMOTE:ALIAS` or a fingerprint). @default this project's
   * `builder` appliance, built here if missing and imported into the remote
   */
  image?: string;
  /**
   * Builder images by architecture (`"image": { "arm64": "ci:appliance-builder-arm64" }`), e.g. a
   * published arm64 builder on a cluster with arm64 members: used instead of building one here.
   */
  images?: Partial<Record<Arch, string>>;
  /**
   * Where on a cluster the containers go (`incus launch --target`): a member or a cluster group
   * (`@group`), for every architecture (`"target": "@builders"`) or per architecture
   * (`"target": { "arm64": "@arm" }`). @default a member of the node's architecture, in turn
   */
  targets?: Partial<Record<Arch | 'all', string>>;
  /** distrobuilder version in `image` (part of every key). @default the builder appliance's version */
  distrobuilder?: string;
  /**
   * The tree cache volume on the remote (an Incus custom volume in the pool of its default
   * profile's root disk, created on first use), or false for none: every tree is pushed in.
   * `APPLIANCE_BUILDER_VOLUME` (a name, or `none`) wins. @default "appliance-registry-trees"
   */
  volume?: string | false;
  /** Where it came from, for messages: `--builder` or `build.config.json`. */
  origin: string;
}

/** The tree cache volume's name unless configured (lib/builder/volume.ts). */
export const DEFAULT_VOLUME = 'appliance-registry-trees';

const REMOTE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const FIELDS = new Set(['remote', 'project', 'jobs', 'image', 'distrobuilder', 'volume', 'target']);
/** A cluster member name, or `@` and a cluster group name. */
const TARGET_RE = /^@?[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A field that is a string for every architecture, or an object by architecture; `all` holds the
 * string form. Each value must pass `ok`; the message names the field (and architecture) at fault.
 */
function perArch(v: unknown, field: string, ok: (s: string) => boolean, what: string): Partial<Record<Arch | 'all', string>> | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    if (!ok(v)) throw new UserError(`${field}: expected ${what}, got ${JSON.stringify(v)}`);
    return { all: v };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${field}: expected ${what}, or an object by architecture (${ARCHES.join(', ')})`);
  const out: Partial<Record<Arch, string>> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!(ARCHES as readonly string[]).includes(k)) throw new UserError(`${field}.${k}: unknown architecture (known: ${ARCHES.join(', ')})`);
    if (typeof x !== 'string' || !ok(x)) throw new UserError(`${field}.${k}: expected ${what}, got ${JSON.stringify(x)}`);
    out[k as Arch] = x;
  }
  return out;
}

/** Reads the `builder` section of `<root>/build.config.json`; undefined when there is none. */
export function readConfigFile(root: string): BuilderConfig | undefined {
  const file = join(root, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${CONFIG_FILE}: not valid JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError(`${CONFIG_FILE}: expected a JSON object`);
  const b = (doc as Record<string, unknown>).builder;
  if (b === undefined) return undefined;
  if (typeof b === 'string') return checked({ remote: b }, `${CONFIG_FILE}: builder`);
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new UserError(`${CONFIG_FILE}: builder: expected a remote name or an object { "remote": ... }`);
  return checked(b as Record<string, unknown>, `${CONFIG_FILE}: builder`);
}

/** Validates the fields of a builder section, naming the field at fault. */
function checked(b: Record<string, unknown>, where: string): BuilderConfig {
  for (const k of Object.keys(b)) if (!FIELDS.has(k)) throw new UserError(`${where}.${k}: unknown field (known: ${[...FIELDS].join(', ')})`);
  const str = (k: string) => {
    const v = b[k];
    if (v !== undefined && (typeof v !== 'string' || !v)) throw new UserError(`${where}.${k}: expected a non-empty string`);
    return v as string | undefined;
  };
  const remote = str('remote');
  if (!remote) throw new UserError(`${where}.remote: required (an Incus remote name, e.g. "local")`);
  if (!REMOTE_RE.test(remote)) throw new UserError(`${where}.remote: "${remote}" is not an Incus remote name`);
  const jobs = b.jobs;
  if (jobs !== undefined && (typeof jobs !== 'number' || !Number.isInteger(jobs) || jobs < 1)) throw new UserError(`${where}.jobs: expected a whole number >= 1`);
  const project = str('project');
  if (project !== undefined && !REMOTE_RE.test(project)) throw new UserError(`${where}.project: "${project}" is not an Incus project name`);
  const volume = b.volume;
  if (volume !== undefined && volume !== false && (typeof volume !== 'string' || !REMOTE_RE.test(volume))) throw new UserError(`${where}.volume: expected an Incus volume name, or false for none`);
  const image = perArch(b.image, `${where}.image`, (x) => x.length > 0, 'a builder image (REMOTE:ALIAS or a fingerprint)');
  const { all: oneImage, ...images } = image ?? {};
  const targets = perArch(b.target, `${where}.target`, (x) => TARGET_RE.test(x), 'a cluster member or @group');
  return {
    remote, project, jobs: jobs as number | undefined, image: oneImage, distrobuilder: str('distrobuilder'),
    ...(Object.keys(images).length ? { images } : {}), ...(targets ? { targets } : {}),
    ...(volume !== undefined ? { volume: volume as string | false } : {}), origin: CONFIG_FILE,
  };
}

/**
 * The builder of this run: `--builder` wins over the config file (keeping the file's other
 * fields when it names the same remote); `--builder host` forces this host. Undefined: this host.
 */
export function builderConfig(root: string, option: string | undefined): BuilderConfig | undefined {
  if (option === 'host') return undefined;
  const file = readConfigFile(root);
  if (option === undefined) return file;
  if (!REMOTE_RE.test(option)) throw new UserError(`--builder: "${option}" is not an Incus remote name (see \`incus remote list\`)`);
  if (file && file.remote === option) return { ...file, origin: '--builder' };
  return { remote: option, origin: '--builder' };
}

/**
 * The tree cache volume of a builder: `APPLIANCE_BUILDER_VOLUME` (a name, or `none`), else the
 * configuration's `volume`, else the default name; false for none.
 */
export function volumeName(config: BuilderConfig, env: NodeJS.ProcessEnv): string | false {
  const v = env.APPLIANCE_BUILDER_VOLUME;
  if (v !== undefined && v !== '') {
    if (v === 'none') return false;
    if (!REMOTE_RE.test(v)) throw new UserError(`APPLIANCE_BUILDER_VOLUME: "${v}" is not an Incus volume name (or "none")`);
    return v;
  }
  return config.volume ?? DEFAULT_VOLUME;
}

/**
 * {@link import('./index.ts').prepareBuilder} when a builder is configured, else undefined
 * without loading the builder modules (they bring execa: a no-op build must not pay for them).
 */
export async function prepareConfiguredBuilder(o: import('./index.ts').PrepareOptions): Promise<import('./index.ts').PreparedBuilder | undefined> {
  if (!builderConfig(o.root, o.option)) return undefined;
  return (await import('./index.ts')).prepareBuilder(o);
}
