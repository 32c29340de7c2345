/**
 * Types for the WHOLE distrobuilder image definition (distrobuilder 3.2, `shared/definition.go`).
 *
 * Every section and field distrobuilder accepts is declared here, with enums as literal unions
 * and `@default` where distrobuilder fills one in, so that hovering a field in an editor explains
 * it. distrobuilder parses definitions with `yaml.v2 UnmarshalStrict`: a key not declared here is
 * a parse error there, which is why the compiler only ever emits keys of these types.
 *
 * @module
 */

/** Image types a filter can select. Anything else is a distrobuilder parse error. */
export type ImageType = 'container' | 'vm';

/**
 * Filters that restrict an entry (file, package set, action, repository, variable, lxc config)
 * to some builds. An empty or absent list matches everything.
 */
export interface Filters {
  /** Only for these `image.release` values. */
  releases?: string[];
  /**
   * Only for these architectures. Matches the MAPPED (distribution) architecture name, e.g.
   * `x86_64` for Alpine, `amd64` for Debian.
   */
  architectures?: string[];
  /** Only for these `image.variant` values. */
  variants?: string[];
  /** Only for containers or only for VMs. */
  types?: ImageType[];
}

/** The `image` section: what the image is. */
export interface DefinitionImage {
  /** Distribution name, e.g. `debian`. REQUIRED. */
  distribution: string;
  /** Release, e.g. `trixie` or `3.22`. */
  release?: string;
  /**
   * Architecture to build (an Incus-known name or the distribution's own).
   * @default the host architecture
   */
  architecture?: string;
  /** @default "default" */
  variant?: string;
  /**
   * Image description (pongo2 template allowed).
   * @default "{{ image.distribution|capfirst }} {{ image.release }} {{ image.architecture_mapped }} ..."
   */
  description?: string;
  /**
   * Image name (pongo2 template allowed).
   * @default "{{ image.distribution }}-{{ image.release }}-{{ image.architecture_mapped }}-{{ image.variant }}-{{ image.serial }}"
   */
  name?: string;
  /**
   * Serial of the build.
   * @default the UTC build time as "20060102_1504"
   */
  serial?: string;
  /**
   * How long the image is valid: one or more `(\d+)(s|m|h|d|w)` parts, e.g. `30d` or `1w2d`.
   * @default "30d"
   */
  expiry?: string;
}

/** Downloaders distrobuilder 3.2 knows (`source.downloader`). */
export type Downloader =
  | 'almalinux-http' | 'alpaquita-http' | 'alpinelinux-http' | 'alt-http' | 'apertis-http'
  | 'archlinux-http' | 'busybox' | 'centos-http' | 'springdalelinux-http' | 'debootstrap'
  | 'rpmbootstrap' | 'fedora-http' | 'gentoo-http' | 'ubuntu-http' | 'oraclelinux-http'
  | 'openeuler-http' | 'opensuse-http' | 'openwrt-http' | 'plamolinux-http' | 'voidlinux-http'
  | 'funtoo-http' | 'rootfs-http' | 'rockylinux-http' | 'vyos-http' | 'slackware-http'
  | 'nixos-http' | 'docker-http';

/** The `source` section: where the base root filesystem comes from. */
export interface DefinitionSource {
  /** Which downloader fetches the base system. REQUIRED. */
  downloader: Downloader;
  /** Mirror or download URL (pongo2 template allowed). */
  url?: string;
  /**
   * GPG key fingerprints or ASCII-armoured keys used to verify the download. Without keys, an
   * http:// URL is an error for http downloaders and an https:// URL a warning; debootstrap
   * then uses the host keyring.
   */
  keys?: string[];
  /** Key server to fetch `keys` fingerprints from. */
  keyserver?: string;
  /** Downloader variant, e.g. debootstrap's `minbase`. */
  variant?: string;
  /** debootstrap suite, when it differs from `image.release`. */
  suite?: string;
  /** debootstrap script to use (e.g. `sid`); Alpine `edge` requires it. */
  same_as?: string;
  /**
   * Skip GPG verification of the download.
   * @default false
   */
  skip_verification?: boolean;
  /** debootstrap `--components`, e.g. `[main, contrib]`. */
  components?: string[];
}

/** One LXC configuration snippet of the legacy LXC target. */
export interface TargetLXCConfig extends Filters {
  /** Which containers the snippet applies to. */
  type: 'all' | 'system' | 'user';
  /** Only for LXC versions before this one (integer). */
  before?: number;
  /** Only for LXC versions after this one (integer). */
  after?: number;
  /** The configuration lines. */
  content: string;
}

/** The LXC target (used by `build-lxc`). */
export interface TargetLXC {
  /** Message printed when a container is created from the image. */
  create_message?: string;
  /** Configuration snippets. */
  config?: TargetLXCConfig[];
}

/** Options of VM images built by `build-incus --vm`. */
export interface TargetIncusVM {
  /**
   * Disk size in bytes.
   * @default 4294967296
   */
  size?: number;
  /**
   * Root filesystem type.
   * @default "ext4"
   */
  filesystem?: 'ext4' | 'btrfs';
}

/** The `targets` section. */
export interface DefinitionTargets {
  /** Settings for `build-lxc`. */
  lxc?: TargetLXC;
  /** Settings for `build-incus`. */
  incus?: { vm?: TargetIncusVM };
}

/** File generators (`files[].generator`). */
export type FileGenerator =
  | 'dump' | 'copy' | 'template' | 'hostname' | 'hosts' | 'remove' | 'cloud-init'
  | 'incus-agent' | 'fstab';

/** When Incus renders an image template. */
export type TemplateTrigger = 'create' | 'copy' | 'start';

/** Incus template settings of a `template` file. */
export interface FileTemplate {
  /** Extra properties passed to the pongo2 template. */
  properties?: Record<string, string>;
  /** When Incus renders it: on instance `create`, `copy` and/or `start`. */
  when?: TemplateTrigger[];
}

/** One entry of the `files` section. */
export interface DefinitionFile extends Filters {
  /** How the file is produced. REQUIRED. */
  generator: FileGenerator;
  /** Destination path inside the image. */
  path?: string;
  /** Content (for `dump` and `template`). */
  content?: string;
  /** Name (for `template`: `templates/<name>.tpl`; for `cloud-init`: the cloud-init file). */
  name?: string;
  /** Host path to copy from (for `copy`), relative to distrobuilder's working directory. */
  source?: string;
  /** Octal mode as a string, e.g. `"0644"`. */
  mode?: string;
  /** Owner user id as a string. */
  uid?: string;
  /** Owner group id as a string. */
  gid?: string;
  /**
   * Render `content` with pongo2 at build time. Keep false on Incus templates.
   * @default false
   */
  pongo?: boolean;
  /** Mark a `hostname`/`hosts` file as templated by Incus. */
  templated?: boolean;
  /** Incus template settings (for `template`). */
  template?: FileTemplate;
}

/** Package managers distrobuilder knows. */
export type PackageManager =
  | 'apk' | 'apt' | 'dnf' | 'egoportage' | 'opkg' | 'pacman' | 'portage' | 'yum' | 'equo'
  | 'xbps' | 'zypper' | 'anise' | 'slackpkg';

/** A command of a custom package manager. */
export interface CustomManagerCommand {
  /** Executable. */
  cmd: string;
  /** Its arguments. */
  flags?: string[];
}

/** A package manager distrobuilder does not know, described command by command. */
export interface CustomManager {
  clean: CustomManagerCommand;
  install: CustomManagerCommand;
  remove: CustomManagerCommand;
  refresh: CustomManagerCommand;
  update: CustomManagerCommand;
  /** Flags added to every command. */
  flags?: string[];
}

/** One package set. */
export interface PackageSet extends Filters {
  /** Package names. */
  packages: string[];
  /** Install or remove them. */
  action: 'install' | 'remove';
  /**
   * Run before the main package sets (right after the refresh).
   * @default false
   */
  early?: boolean;
  /** Extra flags for the package manager. */
  flags?: string[];
}

/** An extra package repository. */
export interface PackageRepository extends Filters {
  /** Repository name (for apt: the file name under sources.list.d, or `sources.list`). */
  name: string;
  /** Repository URL, or for apt the full sources lines. */
  url: string;
  /** Repository type, where the manager has several. */
  type?: string;
  /** Armoured signing key. */
  key?: string;
}

/** The `packages` section. Exactly one of `manager` and `custom_manager` is required. */
export interface DefinitionPackages {
  /** The distribution's package manager. */
  manager?: PackageManager;
  /** A package manager described command by command. */
  custom_manager?: CustomManager;
  /**
   * Upgrade all packages after the refresh.
   * @default false
   */
  update?: boolean;
  /**
   * Clean package caches after the package sets.
   * @default false
   */
  cleanup?: boolean;
  /** Package sets to install or remove, in order. */
  sets?: PackageSet[];
  /** Extra repositories. */
  repositories?: PackageRepository[];
}

/** When an action runs. Stage order: download, repositories, post-unpack, refresh, update, post-update, package sets, cleanup, post-packages, files, post-files. */
export type ActionTrigger = 'post-unpack' | 'post-update' | 'post-packages' | 'post-files';

/** A script run inside the image's chroot. */
export interface DefinitionAction extends Filters {
  /** When it runs. */
  trigger: ActionTrigger;
  /** The script. It runs from a memfd, so its first line MUST be a shebang (`#!/bin/sh`). */
  action: string;
  /**
   * Render the script with pongo2 first.
   * @default false
   */
  pongo?: boolean;
}

/** Architecture map names (`mappings.architecture_map`). */
export type ArchitectureMapName =
  | 'alpinelinux' | 'altlinux' | 'archlinux' | 'centos' | 'debian' | 'gentoo' | 'openwrt'
  | 'plamolinux' | 'voidlinux' | 'funtoo' | 'slackware';

/** The `mappings` section: how Incus architecture names map to the distribution's. */
export interface DefinitionMappings {
  /** Explicit map, Incus name to distribution name. */
  architectures?: Record<string, string>;
  /** A built-in map. */
  architecture_map?: ArchitectureMapName;
}

/** One environment variable for the build's commands. */
export interface EnvironmentVariable extends Filters {
  key: string;
  value: string;
}

/** The `environment` section. */
export interface DefinitionEnvironment {
  /**
   * Drop the default environment (PATH, SHELL=/bin/sh, TERM=xterm, DEBIAN_FRONTEND=noninteractive).
   * @default false
   */
  clear_defaults?: boolean;
  /** Variables to set. */
  variables?: EnvironmentVariable[];
}

/** A whole distrobuilder definition. */
export interface Definition {
  image: DefinitionImage;
  source: DefinitionSource;
  targets?: DefinitionTargets;
  files?: DefinitionFile[];
  packages: DefinitionPackages;
  actions?: DefinitionAction[];
  mappings?: DefinitionMappings;
  environment?: DefinitionEnvironment;
}

/**
 * Keys distrobuilder accepts, per section path, used by the compiler's final check that it
 * emits nothing distrobuilder would reject. `*` marks list items.
 */
export const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': ['image', 'source', 'targets', 'files', 'packages', 'actions', 'mappings', 'environment'],
  image: ['distribution', 'release', 'architecture', 'variant', 'description', 'name', 'serial', 'expiry'],
  source: ['downloader', 'url', 'keys', 'keyserver', 'variant', 'suite', 'same_as', 'skip_verification', 'components'],
  targets: ['lxc', 'incus'],
  'targets.lxc': ['create_message', 'config'],
  'targets.lxc.config.*': ['type', 'before', 'after', 'content', 'releases', 'architectures', 'variants', 'types'],
  'targets.incus': ['vm'],
  'targets.incus.vm': ['size', 'filesystem'],
  'files.*': ['generator', 'path', 'content', 'name', 'source', 'mode', 'uid', 'gid', 'pongo', 'templated', 'template', 'releases', 'architectures', 'variants', 'types'],
  'files.*.template': ['properties', 'when'],
  packages: ['manager', 'custom_manager', 'update', 'cleanup', 'sets', 'repositories'],
  'packages.custom_manager': ['clean', 'install', 'remove', 'refresh', 'update', 'flags'],
  'packages.sets.*': ['packages', 'action', 'early', 'flags', 'releases', 'architectures', 'variants', 'types'],
  'packages.repositories.*': ['name', 'url', 'type', 'key', 'releases', 'architectures', 'variants', 'types'],
  'actions.*': ['trigger', 'action', 'pongo', 'releases', 'architectures', 'variants', 'types'],
  mappings: ['architectures', 'architecture_map'],
  environment: ['clear_defaults', 'variables'],
  'environment.variables.*': ['key', 'value', 'releases', 'architectures', 'variants', 'types'],
};
