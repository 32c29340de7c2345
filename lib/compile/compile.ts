/**
 * The compiler: Appliance x architecture -> distrobuilder definition YAML.
 *
 * Pure and deterministic: the only I/O is reading the appliance's own `files/`, through an
 * injectable reader; no clock, no environment (host values arrive in the {@link BaseContext}).
 * The same inputs give byte-identical YAML on every run and machine.
 * @module
 */
import { shellQuote } from '../shell.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Definition, DefinitionAction, DefinitionFile, PackageSet } from '../distrobuilder/definition.ts';
import type { Appliance, Arch, BaseContext } from './model.ts';
import { CONFIGURE_PATH, settingsFiles } from './settings.ts';
import { canonicalDefinition, toYaml } from './yaml.ts';
import { UserError } from '../diagnostics.ts';

/** Reads a file of the appliance's `files/` folder (injectable for tests). */
export type FileReader = (absolutePath: string) => Buffer;

/** The result of compiling one target. */
export interface CompiledTarget {
  /** `name:arch`. */
  target: string;
  /** Canonical architecture. */
  arch: Arch;
  /** The architecture name the base uses (e.g. `x86_64` on Alpine). */
  distroArch: string;
  /** The definition object (canonical key order). */
  definition: Definition;
  /** The YAML text handed to distrobuilder. */
  yaml: string;
  /** Absolute paths of every `files/` file the image receives (sorted). */
  inputFiles: string[];
  /** What the image receives from the appliance folder: destination path -> absolute source. */
  shipped: Map<string, string>;
  /** The same image as layers (see {@link Layers}): what the layered build graph runs. */
  layers: Layers;
}

/**
 * One target split into the layers of the build graph, each a complete definition:
 * - `base`: `build-dir` of the base alone (download, base packages, base pre-file actions);
 *   shared by every appliance on the same base and architecture;
 * - `packages`: `build-dir` on top of the base tree (source `rootfs-http` of {@link PARENT_URL}):
 *   the appliance's repositories, package sets and pre-file actions; absent when the
 *   appliance has none (its image is packed straight from the base tree);
 * - `image`: `pack-incus` of the parent tree: files, post-files actions, image metadata;
 *   package management is off, so it runs neither debootstrap nor apt.
 */
export interface Layers {
  /** `<base name>-<release>`, e.g. `debian-trixie`. */
  baseId: string;
  base: Definition;
  packages?: Definition;
  image: Definition;
}

/**
 * Stand-in for the parent tree's tarball in the `source.url` of the `packages` and `image`
 * layers: the build replaces it with the real `file://` URL (the path is a cache location, so it
 * stays out of the key).
 */
export const PARENT_URL = 'file:///parent-layer/rootfs.tar';

/** Thrown for a problem in an appliance that the compiler cannot get past. */
export class CompileError extends UserError {
  constructor(message: string, readonly file: string, readonly field?: string) {
    super(message);
    this.name = 'CompileError';
  }
}

function script(body: string): string {
  return body.endsWith('\n') ? body : body + '\n';
}

/** Drops earlier declarations of a path declared again later (the later one wins). */
function lastWinsByPath(files: DefinitionFile[]): DefinitionFile[] {
  const last = new Map<string, number>();
  files.forEach((f, i) => {
    if (f.path && f.generator !== 'remove') last.set(f.path, i);
  });
  return files.filter((f, i) => !f.path || f.generator === 'remove' || last.get(f.path) === i);
}

/**
 * Compiles one appliance for one architecture.
 * @param app the loaded appliance
 * @param arch canonical architecture; must be one the appliance declares
 * @param ctx host-derived values (mirrors)
 * @param read reader for `files/` (defaults to the file system)
 */
export function compile(app: Appliance, arch: Arch, ctx: BaseContext, read: FileReader = readFileSync): CompiledTarget {
  const base = app.base;
  if (!app.architectures.includes(arch)) {
    throw new CompileError(`${app.name} does not declare architecture ${arch} (declares: ${app.architectures.join(', ')})`, app.module, 'architectures');
  }
  const distroArch = base.architectures[arch];
  const reader = shippedReader(app, read);
  const applianceFiles: DefinitionFile[] = (app.files ?? []).map((f) => (
    { generator: 'dump', path: f.path, content: reader.text(f.source, 'files', f.path), mode: f.mode ?? '0644', uid: f.uid, gid: f.gid }
  ));
  const s = settingsParts(app, reader);
  const sets = packageSets(app);
  const actions = imageActions(app, s.actions, s.services);
  const definition: Definition = {
    image: {
      distribution: base.distribution,
      release: base.release,
      architecture: distroArch,
      variant: 'default',
      description: `${app.name} ${app.version}: ${app.description}`,
      name: `${app.name}-${app.version}-${base.name}-${base.release}-${distroArch}`,
      ...(app.raw?.image ?? {}),
    },
    source: { ...base.source(ctx), ...(app.raw?.source ?? {}) },
    targets: app.raw?.targets ?? base.raw?.targets,
    files: lastWinsByPath([...base.files, ...applianceFiles, ...s.files, ...(app.raw?.files ?? [])]),
    packages: {
      manager: base.packageManager,
      update: app.raw?.packages?.update ?? true,
      cleanup: app.raw?.packages?.cleanup ?? true,
      sets,
      repositories: app.raw?.packages?.repositories,
    },
    actions,
    mappings: { architecture_map: base.architectureMap, ...(app.raw?.mappings ?? {}) },
    environment: mergeEnvironment(base.raw?.environment, app.raw?.environment),
  };
  let canonical: Definition;
  try {
    canonical = canonicalDefinition(definition) as Definition;
  } catch (e) {
    throw new CompileError((e as Error).message, app.module, 'raw');
  }
  const layers = splitLayers(app, canonical, actions, sets);
  return { target: `${app.name}:${arch}`, arch, distroArch, definition: canonical, yaml: toYaml(canonical), inputFiles: reader.inputs.sort(), shipped: reader.shipped, layers };
}

/** Reads the appliance's shipped files as UTF-8 text, recording each as an input and by destination. */
function shippedReader(app: Appliance, read: FileReader) {
  const filesDir = join(app.dir, 'files');
  const inputs: string[] = [];
  const shipped = new Map<string, string>();
  return {
    inputs,
    shipped,
    /** The text of `files/<source>`, shipped to `dest`. */
    text(source: string, field: string, dest: string): string {
      const abs = join(filesDir, source);
      inputs.push(abs);
      let buf: Buffer;
      try {
        buf = read(abs);
      } catch {
        throw new CompileError(`files/${source} does not exist`, app.module, field);
      }
      const content = buf.toString('utf8');
      if (Buffer.compare(Buffer.from(content, 'utf8'), buf) !== 0) {
        throw new CompileError(`files/${source} is not UTF-8 text`, app.module, field);
      }
      shipped.set(dest, abs);
      return content;
    },
  };
}

/**
 * The settings machinery and the guest command (`appliance check|apply|status|health`), shipped
 * in every image: its files (with the configure script), actions and services.
 */
function settingsParts(app: Appliance, reader: ReturnType<typeof shippedReader>) {
  const services = [...new Set([...app.base.services, ...(app.services ?? [])])];
  const s = settingsFiles({
    app: app.name, settings: app.settings ?? {}, volume: app.volumes?.[0],
    services: app.services ?? [], health: app.health.command, init: app.base.init,
  }, app.base);
  const files: DefinitionFile[] = [...s.files];
  if (app.configure) files.push({ generator: 'dump', path: CONFIGURE_PATH, mode: '0755', content: reader.text(app.configure, 'configure', CONFIGURE_PATH) });
  return { files, actions: [...s.actions], services: [...services, s.service] };
}

/** Package sets: the base's (early), the appliance's installs and removals, raw ones. */
function packageSets(app: Appliance): PackageSet[] {
  const sets: PackageSet[] = [];
  if (app.base.packages.length) sets.push({ packages: [...app.base.packages], action: 'install', early: true });
  if (app.packages?.length) sets.push({ packages: [...app.packages], action: 'install' });
  if (app.removePackages?.length) sets.push({ packages: [...app.removePackages], action: 'remove' });
  sets.push(...(app.raw?.packages?.sets ?? []));
  return sets;
}

/**
 * Actions in order: base, appliance, settings, enabling services, skipping the network wait
 * (unless `waitForNetwork`), raw, the base's final ones.
 */
function imageActions(app: Appliance, settingActions: DefinitionAction[], services: string[]): DefinitionAction[] {
  const base = app.base;
  const actions: DefinitionAction[] = [
    ...base.actions,
    ...(app.actions ?? []).map((a) => ({ trigger: a.trigger, action: script(a.script) })),
    ...settingActions,
  ];
  if (services.length) {
    actions.push({
      trigger: 'post-files',
      action: `#!/bin/sh\nset -eu\n${services.map((s) => base.enableService.replace('%s', shellQuote(s))).join('\n')}\n`,
    });
  }
  if (base.skipNetworkWait && !app.waitForNetwork) {
    // After enabling: enabling systemd-networkd also enables its wait-online unit (Also=).
    actions.push({
      trigger: 'post-files',
      action: `#!/bin/sh\nset -eu\n# The boot does not wait for DHCP: no service here needs the network to start (waitForNetwork).\n${base.skipNetworkWait}\n`,
    });
  }
  actions.push(...(app.raw?.actions ?? []), ...base.finalActions);
  return actions;
}

/** True for actions that run before the files (they belong to a tree layer, not to the pack). */
const preFiles = (a: DefinitionAction) => a.trigger !== 'post-files';

/**
 * Splits a compiled definition into its layers (see {@link Layers}). The base's own pre-file
 * actions and package set go to `base`; the appliance's repositories, sets and pre-file actions
 * to `packages`; files and every post-files action, in the monolithic order, to `image`.
 */
function splitLayers(app: Appliance, def: Definition, actions: DefinitionAction[], sets: PackageSet[]): Layers {
  const base = app.base;
  const baseActions = base.actions.filter(preFiles);
  const ownPre = actions.filter((a) => preFiles(a) && !baseActions.includes(a));
  const [baseSet, ...ownSets] = base.packages.length ? sets : [undefined, ...sets];
  const image = { ...def.image!, name: `base-${base.name}-${base.release}-${def.image!.architecture}`, description: `${base.title} base layer` };
  const layerBase = canonicalDefinition({
    image,
    source: def.source,
    packages: { manager: base.packageManager, update: true, cleanup: true, sets: baseSet ? [baseSet] : [] },
    actions: baseActions.length ? [...baseActions] : undefined,
    mappings: def.mappings,
    environment: base.raw?.environment,
  }) as Definition;
  const parent = { downloader: 'rootfs-http', url: PARENT_URL };
  const repos = def.packages!.repositories;
  const wantsLayer = ownSets.length > 0 || ownPre.length > 0 || (repos?.length ?? 0) > 0;
  const packages = wantsLayer ? canonicalDefinition({
    image: def.image,
    source: parent,
    packages: { manager: base.packageManager, update: false, cleanup: true, sets: ownSets, repositories: repos },
    actions: ownPre,
    mappings: def.mappings,
    environment: def.environment,
  }) as Definition : undefined;
  const layerImage = canonicalDefinition({
    image: def.image,
    source: parent,
    targets: def.targets,
    files: def.files,
    packages: { manager: base.packageManager, update: false, cleanup: false, sets: [] },
    actions: (def.actions ?? []).filter((a) => !preFiles(a)),
    mappings: def.mappings,
    environment: def.environment,
  }) as Definition;
  return { baseId: `${base.name}-${base.release}`, base: layerBase, packages, image: layerImage };
}

function mergeEnvironment(a: Definition['environment'], b: Definition['environment']): Definition['environment'] {
  if (!a && !b) return undefined;
  return {
    clear_defaults: b?.clear_defaults ?? a?.clear_defaults,
    variables: [...(a?.variables ?? []), ...(b?.variables ?? [])],
  };
}
