/**
 * The appliance model: what an author writes in `appliances/<name>/appliance.ts`.
 *
 * It sits on top of the distrobuilder definition types ({@link Definition}) and adds what users
 * of an appliance need declared: ports, volumes, launch-time settings and a health check. The
 * compiler (`lib/compile/compile.ts`) turns an {@link Appliance} plus an architecture into distrobuilder
 * YAML.
 *
 * @module
 */
import type {
  ActionTrigger, Definition, DefinitionAction, DefinitionFile, DefinitionImage, DefinitionSource,
  EnvironmentVariable, PackageManager, PackageRepository, PackageSet, DefinitionTargets,
  DefinitionMappings,
} from '../distrobuilder/definition.ts';

// Architectures live in arch.ts (light: it is on the no-op build path); re-exported here.
import type { Arch } from '../arch.ts';
export { ARCHES, type Arch } from '../arch.ts';
import type { SettingKind } from './setting-kinds.ts';
export { kinds, type SettingKind } from './setting-kinds.ts';

/** A network port the appliance's service listens on. */
export interface Port {
  /** Port number, 1-65535. */
  port: number;
  /**
   * Transport protocol.
   * @default "tcp"
   */
  protocol?: 'tcp' | 'udp';
  /** What it serves, e.g. "HTTP". Shown in the README and `profile` output. */
  description: string;
  /**
   * Listens only on 127.0.0.1 inside the container (an admin endpoint); `profile` does not
   * publish it.
   * @default false
   */
  localOnly?: boolean;
}

/** A path holding data that should live on a custom volume to survive `incus rebuild`. */
export interface Volume {
  /** Absolute path inside the container. */
  path: string;
  /** What lives there. */
  description: string;
}

/**
 * A launch-time setting, read from the instance config key `user.<appliance>.<key>`
 * (e.g. `incus launch appliance:postgres db -c user.postgres.password=...`).
 */
export interface Setting {
  /** What it does. Shown in the README table and `help`. */
  description: string;
  /** Value used when the key is not set at launch. Never put a secret here. */
  default?: string;
  /**
   * The value is a secret: it is removed from disk once applied and never baked into the image.
   * @default false
   */
  secret?: boolean;
  /** An example value, used in docs and by the `test` verb. */
  example?: string;
  /**
   * What a value may be, checked inside the instance before anything is applied (a bad value
   * keeps the service stopped and `appliance status` names the rule). Declare it with the
   * `kinds` helpers, e.g. `type: kinds.integer({ min: 1, max: 65535 })`.
   * @default kinds.string(): any single line
   */
  type?: SettingKind;
  /**
   * An empty value is refused (the service does not start until it is set).
   * @default false
   */
  required?: boolean;
  /**
   * A second value and the check that the running service took it after `incus config set` +
   * `incus restart` (the `test` verb's day-two phase). Declare it on every setting whose new
   * value can be observed: it proves the setting can change, not only be given at launch.
   * @example change: { value: '32mb', check: "redis-cli config get maxmemory | grep -qx 33554432" }
   */
  change?: SettingChange;
}

/**
 * Day two of a setting, exercised by the `test` verb on the instance it launched: after its own
 * tests, it sets this value with `incus config set`, restarts the instance (no relaunch) and
 * runs `check`, which must see the new value in the running service.
 */
export interface SettingChange {
  /** A second valid value, different from `example` (checked against `type` by `validate`). */
  value: string;
  /**
   * Shell command run inside the container (`/bin/sh -c`) once the restarted instance is
   * healthy; exit 0 when the running service uses {@link value} (e.g. asks the server, not a
   * configuration file).
   */
  check: string;
}

/** How to tell the appliance is healthy; run inside the container (`incus exec`). */
export interface HealthCheck {
  /** Command run with `/bin/sh -c` inside the container; exit 0 means healthy. */
  command: string;
  /**
   * Seconds to wait for the first success after launch before declaring failure.
   * @default 60
   */
  timeout?: number;
  /**
   * Seconds between attempts. The `test` verb and `npm run bench -- boot` report the time from
   * launch to the first passing attempt, so a coarse interval would measure the interval, not
   * the boot.
   * @default 0.1
   */
  interval?: number;
}

/** A file the image receives from the appliance's `files/` folder. */
export interface ApplianceFile {
  /** Path of the source file, relative to `appliances/<name>/files/`. */
  source: string;
  /** Absolute destination path inside the image. */
  path: string;
  /**
   * Octal mode, e.g. `"0755"` for scripts.
   * @default "0644"
   */
  mode?: string;
  /** Owner uid (numeric string). */
  uid?: string;
  /** Owner gid (numeric string). */
  gid?: string;
}

/** One end-to-end check of the `test` verb. */
export interface ApplianceTest {
  /** What it proves, e.g. "postgres accepts the password given at launch". */
  name: string;
  /** Shell command run inside the container; exit 0 passes. */
  command: string;
}

/** A build-time script run inside the image chroot. */
export interface ApplianceAction {
  /** When it runs. */
  trigger: ActionTrigger;
  /** The script; its first line must be a shebang such as `#!/bin/sh`. */
  script: string;
}

/**
 * Raw distrobuilder additions (the escape hatch): lists are appended after everything the model
 * generates, objects are merged key by key. Still type-checked against the definition types.
 */
export interface RawDefinition {
  image?: Partial<Pick<DefinitionImage, 'expiry' | 'name' | 'description' | 'variant'>>;
  source?: Partial<DefinitionSource>;
  targets?: DefinitionTargets;
  files?: DefinitionFile[];
  packages?: { sets?: PackageSet[]; repositories?: PackageRepository[]; update?: boolean; cleanup?: boolean };
  actions?: DefinitionAction[];
  mappings?: DefinitionMappings;
  environment?: { clear_defaults?: boolean; variables?: EnvironmentVariable[] };
}

/** The init system of a base; decides how services are enabled and settings applied. */
export type InitSystem = 'systemd' | 'openrc';

/** Build context handed to a base layer: host-derived values the compiler must not look up itself. */
export interface BaseContext {
  /** The Debian mirror URL (derived from the host's apt configuration, or overridden). */
  debianMirror: string;
  /** The Alpine mirror URL, when known. */
  alpineMirror: string;
}

/**
 * A base layer (`appliances/_base/*.ts`): the distribution an appliance is built on.
 *
 * Composition semantics (documented in docs/creating-appliances.md and tested):
 * - scalars (distribution, release, variant, source fields) come from the base; an appliance's
 *   `raw.source`/`raw.image` fields override them;
 * - lists concatenate in the order base, then appliance, then `raw`: package sets, files,
 *   actions, repositories, environment variables; the base's `finalActions` (slimming) run last;
 * - a file path declared twice keeps the LAST declaration (the appliance overrides the base);
 * - services: the base's first, then the appliance's, duplicates dropped.
 */
export interface Base {
  /** Base name, e.g. `debian` or `alpine`. */
  name: string;
  /** `image.distribution`. */
  distribution: string;
  /** `image.release`. */
  release: string;
  /** Human title of the release, e.g. "Debian 13 (trixie)". */
  title: string;
  /** Package manager of the distribution; appliances must use its package names. */
  packageManager: PackageManager;
  /** Init system. */
  init: InitSystem;
  /** Map from canonical architecture to the distribution's name. */
  architectures: Readonly<Record<Arch, string>>;
  /** `mappings.architecture_map`. */
  architectureMap: NonNullable<DefinitionMappings['architecture_map']>;
  /** Source section, given the host context. */
  source: (ctx: BaseContext) => DefinitionSource;
  /** Packages the base installs (early, before the appliance's). */
  packages: readonly string[];
  /** Services the base enables. */
  services: readonly string[];
  /** Files the base adds. */
  files: readonly DefinitionFile[];
  /** Actions the base runs before the appliance's actions of the same trigger. */
  actions: readonly DefinitionAction[];
  /** Actions the base runs after everything else (slimming: docs, caches, apt lists). */
  finalActions: readonly DefinitionAction[];
  /** Shell command enabling one service (`%s` = service name). */
  enableService: string;
  /**
   * Shell command, run at build time after the services are enabled, that stops the boot from
   * waiting for the network to be configured (systemd: masking
   * `systemd-networkd-wait-online.service`, so `network-online.target` is reached at once).
   * Run in every image whose appliance does not set {@link ApplianceSpec.waitForNetwork}.
   * Absent when the init system has no such wait.
   */
  skipNetworkWait?: string;
  /** Extra raw definition parts. */
  raw?: Partial<Pick<Definition, 'environment' | 'targets'>>;
}

/** Everything an author declares about an appliance. */
export interface ApplianceSpec<A extends Arch = Arch> {
  /**
   * Appliance name: the image alias users launch (`incus launch appliance:<name>`).
   * Lower-case letters, digits and dashes; must equal the folder name.
   */
  name: string;
  /** Version of the packaged service, e.g. "1.26". Also published as alias `<name>/<version>`. */
  version: string;
  /** One line saying what it is. */
  description: string;
  /** The base layer, e.g. `debian()` from `../_base/debian.ts`. */
  base: Base;
  /** Architectures it builds for. */
  architectures: readonly A[];
  /**
   * The package manager whose names `packages` uses. Optional; when given it must match the
   * base's (catches an appliance moved to another base without renaming its packages).
   */
  packageManager?: PackageManager;
  /** Packages to install (names of the base's package manager). */
  packages?: readonly string[];
  /** Packages to remove after installing (to slim the image). */
  removePackages?: readonly string[];
  /** Services to enable at boot (systemd unit names or OpenRC service names). */
  services?: readonly string[];
  /**
   * Why the boot must wait for the network (DHCP address, routes, DNS servers) before services
   * ordered after `network-online.target` start: one sentence naming what the service needs
   * from the network to start, e.g. "backends given by host name are resolved once, at start".
   * Absent by default, because that wait is about a second of DHCP on every launch and a
   * service that binds every address does not need it: the base masks the wait
   * (`systemd-networkd-wait-online.service` on Debian), and the `test` verb fails an appliance
   * whose boot waited anyway. Give a reason only when a service must reach the network to start.
   */
  waitForNetwork?: string;
  /** Files copied from the appliance's `files/` folder into the image. */
  files?: readonly ApplianceFile[];
  /** Build-time scripts. */
  actions?: readonly ApplianceAction[];
  /** Ports the service listens on. */
  ports?: readonly Port[];
  /** Data paths worth putting on a custom volume. */
  volumes?: readonly Volume[];
  /**
   * Launch-time settings, keyed by the part after `user.<name>.`: `{ password: {...} }` is read
   * from `user.<name>.password`.
   */
  settings?: Readonly<Record<string, Setting>>;
  /**
   * Script (path in `files/`) that applies the settings, at every start, before the services
   * start (they do not start when it fails). It runs as root with the settings in
   * `/run/appliance/settings.env` (shell-quoted `KEY='value'` lines, upper-case keys with `-`
   * and `.` turned into `_`), already checked against their `type`. `APPLIANCE_CHANGED` lists
   * the keys whose value differs from the last applied one (all of them on a new data volume):
   * one-time effects (a password set in a database) must run only for those, so a change made
   * inside the instance survives restarts and rebuilds. Required when `settings` is non-empty.
   */
  configure?: string;
  /** How to tell it is healthy. */
  health: HealthCheck;
  /**
   * End-to-end checks run by the `test` verb once the health check passes, in a container
   * launched with every setting set to its `example` value (a check proves a setting worked,
   * e.g. that postgres accepts the example password). Each command runs with `/bin/sh -c`
   * inside the container; exit 0 passes.
   */
  tests?: readonly ApplianceTest[];
  /**
   * Changes made inside the instance that must survive restarts while the settings they come
   * from are unchanged (day two of the `test` verb): `change` runs in the healthy instance, the
   * instance is restarted (with bad values, then with its launch values), then `check` must
   * still see the change. Proves that `configure` applies a setting only when it changed
   * (`APPLIANCE_CHANGED`), e.g. a password changed inside is not reverted. The settings'
   * `change` values are applied after this check.
   */
  keptChanges?: readonly KeptChange[];
  /**
   * Data written into the data volume (the first of `volumes`) that the documented upgrade,
   * `incus rebuild <remote>:<app> <instance>`, must keep: `change` writes it in the healthy
   * instance (before the `keptChanges` are made), `check` exits 0 when the rebuilt instance
   * serves it (after them: use the credentials they changed). Exercised for each stateful
   * appliance by test/e2e/settings-lifecycle.test.ts, with `keptChanges` (their `check` must
   * pass after the rebuild too: an unchanged setting is not applied again).
   */
  keptData?: KeptChange;
  /**
   * Data of a server version this image must refuse (a newer format), fabricated on the data
   * volume by `change` in the healthy instance; after a restart the services must stay stopped
   * and `appliance status` must show `refusal`, the upgrade path; `undo` restores the data (the
   * next restart is healthy again). Exercised by test/e2e/settings-lifecycle.test.ts.
   */
  newerData?: NewerData;
  /** Escape hatch: raw distrobuilder sections the model does not cover. */
  raw?: RawDefinition;
}

/** A change made inside a running instance that restarts must keep (see `keptChanges`). */
export interface KeptChange {
  /** What is kept, e.g. "a password changed with ACL SETUSER". */
  name: string;
  /** Shell command run inside the container before the restarts; exit 0. */
  change: string;
  /** Shell command run after them; exit 0 when the change is still there. */
  check: string;
}

/** Data of another server version the appliance refuses (see `newerData`). */
export interface NewerData {
  /** What is fabricated, e.g. "a data directory last upgraded by MariaDB 99.1". */
  name: string;
  /**
   * Shell command run inside the healthy container: stops the services (a server may write its
   * own format when it stops), then fabricates the data; exit 0.
   */
  change: string;
  /** Text `appliance status` must contain once the restarted instance refused the data. */
  refusal: string;
  /** Shell command run inside the container (services stopped): restores the data; exit 0. */
  undo: string;
}

/** A loaded appliance: the spec plus where it came from. */
export interface Appliance extends ApplianceSpec {
  /** Absolute path of the appliance folder. */
  dir: string;
  /** Absolute path of its `appliance.ts`. */
  module: string;
}

/**
 * Declares an appliance. An identity function: its only job is to give the editor the types
 * for completion and hover docs. The `const` type parameter keeps `architectures` literal.
 *
 * @example
 * export default defineAppliance({
 *   name: 'nginx', version: '1.26', description: 'Web server',
 *   base: debian(), architectures: ['amd64', 'arm64'],
 *   packages: ['nginx-light'], services: ['nginx'],
 *   health: { command: 'curl -fsS http://127.0.0.1/healthz' },
 * });
 */
export function defineAppliance<const A extends Arch>(spec: ApplianceSpec<A>): ApplianceSpec<A> {
  return spec;
}

/** Declares a base layer; identity function for typing, like {@link defineAppliance}. */
export function defineBase(base: Base): Base {
  return base;
}
