/**
 * Incus profiles for appliances: one proxy device per published port, listening on the host and
 * connecting to 127.0.0.1 inside the container. Pure: no I/O; the `profile` verb prints it.
 *
 * ```yaml
 * name: nginx
 * description: ...
 * config: {}
 * devices:
 *   nginx-80: {type: proxy, listen: tcp:0.0.0.0:80, connect: tcp:127.0.0.1:80}
 * ```
 * @module
 */
import { isIP } from 'node:net';
import { stringify } from 'yaml';
import type { ApplianceSpec, Port } from './model.ts';
import { UserError } from '../diagnostics.ts';
import { urlHost } from '../url.ts';

/** Options of {@link applianceProfile}. */
export interface ProfileOptions {
  /**
   * Host address the proxy devices listen on (IPv4 or IPv6).
   * @default "0.0.0.0"
   */
  listenAddress?: string;
  /**
   * Added to every port on the host side (host port = port + offset), so several instances of
   * one appliance can be published on one host.
   * @default 0
   */
  portOffset?: number;
  /**
   * Profile name.
   * @default the appliance name
   */
  name?: string;
}

/** One proxy device of an Incus profile. */
export interface ProxyDevice {
  type: 'proxy';
  listen: string;
  connect: string;
}

/** An Incus profile as `incus profile edit` reads it. */
export interface IncusProfile {
  name: string;
  description: string;
  config: Record<string, string>;
  devices: Record<string, ProxyDevice>;
}

/** Thrown for options that cannot give a valid profile. */
export class ProfileError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileError';
  }
}

const PROFILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The proxy device name of a port: `<appliance>-<port>`, `-udp` appended for UDP. */
export function deviceName(appliance: string, port: Port): string {
  return `${appliance}-${port.port}${(port.protocol ?? 'tcp') === 'udp' ? '-udp' : ''}`;
}

/** The ports a profile publishes: every port not marked `localOnly`. */
export function publishedPorts(ports: readonly Port[] | undefined): Port[] {
  return (ports ?? []).filter((p) => !p.localOnly);
}

/**
 * The Incus profile of an appliance: a proxy device per published port.
 * @throws {ProfileError} for an invalid listen address, offset, profile name, or a host port
 *   outside 1-65535
 */
export function applianceProfile(app: Pick<ApplianceSpec, 'name' | 'version' | 'description' | 'ports'>, opts: ProfileOptions = {}): IncusProfile {
  const listen = opts.listenAddress ?? '0.0.0.0';
  const offset = opts.portOffset ?? 0;
  const name = opts.name ?? app.name;
  if (!isIP(listen)) throw new ProfileError(`listen address "${listen}" is not an IPv4 or IPv6 address`);
  if (!Number.isInteger(offset)) throw new ProfileError(`port offset "${offset}" is not an integer`);
  if (!PROFILE_NAME_RE.test(name)) throw new ProfileError(`profile name "${name}" is not usable (letters, digits, ".", "_", "-"; at most 63 characters)`);
  const devices: Record<string, ProxyDevice> = {};
  for (const p of publishedPorts(app.ports)) {
    const proto = p.protocol ?? 'tcp';
    const hostPort = p.port + offset;
    if (hostPort < 1 || hostPort > 65535) {
      throw new ProfileError(`port ${p.port}/${proto} + offset ${offset} = ${hostPort} is outside 1-65535`);
    }
    devices[deviceName(app.name, p)] = {
      type: 'proxy',
      listen: `${proto}:${urlHost(listen)}:${hostPort}`,
      connect: `${proto}:127.0.0.1:${p.port}`,
    };
  }
  const where = offset ? ` (host ports +${offset})` : '';
  return {
    name,
    description: `${app.name} appliance (${app.description}): proxy devices on ${listen}${where}`,
    config: {},
    devices,
  };
}

/**
 * The profile as YAML for `incus profile create NAME < file` or `incus profile edit NAME < file`,
 * with a comment naming each published port.
 */
export function profileYaml(app: Pick<ApplianceSpec, 'name' | 'version' | 'description' | 'ports'>, opts: ProfileOptions = {}): string {
  const profile = applianceProfile(app, opts);
  const body = stringify(profile, { lineWidth: 0, aliasDuplicateObjects: false });
  const comments = publishedPorts(app.ports).map((p) => {
    const proto = p.protocol ?? 'tcp';
    return `#   ${deviceName(app.name, p)}: ${p.port}/${proto} ${p.description}`;
  });
  const local = (app.ports ?? []).filter((p) => p.localOnly).map((p) => `#   not published (127.0.0.1 only): ${p.port}/${p.protocol ?? 'tcp'} ${p.description}`);
  const header = [
    `# Incus profile for the ${app.name} appliance: proxy devices from the host to 127.0.0.1 in the container.`,
    `#   incus profile create ${profile.name} < ${profile.name}.yaml   (or: incus profile edit ${profile.name} < ${profile.name}.yaml)`,
    `#   incus launch appliance:${app.name} NAME --profile default --profile ${profile.name}`,
    ...(comments.length ? ['# Ports:', ...comments] : ['# This appliance declares no published ports.']),
    ...local,
  ];
  return `${header.join('\n')}\n${body}`;
}
