/**
 * The commands a catalogue page offers for copy and paste. Kept as data (text parts, some of
 * them placeholders for the registry's address) so the page can render them with spans that
 * its script fills in from the address the page was loaded from, and tests can compare what
 * the copy button copied with the text computed here.
 * @module
 */
import { exampleInstance, shellQuote, volumeSlug } from '../../appliances/_shared/readme.ts';
import { profileYaml, publishedPorts } from '../compile/profile.ts';
import { settingConfigKey } from '../compile/settings.ts';
import type { ApplianceInfo } from './info.ts';

/** A piece of a command: literal text, or the registry URL / host / host:port (filled in by the page). */
export type Part = string | { slot: 'url' | 'host' | 'hostport' };

/** A command block: lines of parts. */
export type Command = Part[];

/** Where the registry is, as the pages first show it (the script replaces it when served). */
export interface Endpoint {
  /** Remote name in the commands. */
  remote: string;
  /** Registry URL, e.g. `https://registry.example.net:8443`. */
  url: string;
}

/** The text of a command with the slots filled from `endpoint`. */
export function commandText(cmd: Command, endpoint: Endpoint): string {
  const u = new URL(endpoint.url);
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const slots = { url: endpoint.url.replace(/\/$/, ''), host: u.hostname, hostport: `${u.hostname}:${port}` };
  return cmd.map((p) => (typeof p === 'string' ? p : slots[p.slot])).join('');
}

/** `incus remote add`: the registry as a simplestreams remote. */
export function remoteAddCommand(remote: string): Command {
  return [`incus remote add ${remote} `, { slot: 'url' }, ' --protocol simplestreams'];
}

/**
 * Trusting a self-signed certificate: the certificate copy IS the trust step of a simplestreams
 * remote. Fetched from the server, then its fingerprint printed to compare with the one
 * `serve` printed at start.
 */
export function certificateCommand(remote: string): Command {
  const file = `~/.config/incus/servercerts/${remote}.crt`;
  return [
    'mkdir -p ~/.config/incus/servercerts\n',
    'openssl s_client -connect ', { slot: 'hostport' }, ' -servername ', { slot: 'host' }, ' </dev/null 2>/dev/null \\\n',
    `  | openssl x509 > ${file}\n`,
    `openssl x509 -noout -fingerprint -sha256 -in ${file}`,
  ];
}

/** `incus launch` on one line, no settings (the index cards). */
export function quickLaunch(info: Pick<ApplianceInfo, 'name'>, remote: string): string {
  return `incus launch ${remote}:${info.name} ${exampleInstance(info.name)}`;
}

/** `incus launch` (or `init`) with every setting that has an example value. */
export function launchCommand(info: Pick<ApplianceInfo, 'name' | 'settings'>, remote: string, verb: 'launch' | 'init' = 'launch'): string {
  const args = Object.entries(info.settings)
    .filter(([, s]) => s.example !== undefined)
    .map(([k, s]) => ` \\\n    -c ${settingConfigKey(info.name, k)}=${shellQuote(s.example!)}`);
  return `incus ${verb} ${remote}:${info.name} ${exampleInstance(info.name)}${args.join('')}`;
}

/** A profile publishing the appliance's ports (as the `profile` verb prints it), created from stdin. */
export function profileCommand(info: ApplianceInfo): string | undefined {
  if (!publishedPorts(info.ports).length) return undefined;
  const yaml = profileYaml(info).split('\n').filter((l) => !l.startsWith('#')).join('\n').trimEnd();
  return `incus profile create ${info.name} <<'EOF'\n${yaml}\nEOF\nincus profile add ${exampleInstance(info.name)} ${info.name}`;
}

/** Volumes created and attached before the first start. */
export function volumeCommands(info: ApplianceInfo, remote: string): string | undefined {
  if (!info.volumes.length) return undefined;
  const i = exampleInstance(info.name);
  return [
    launchCommand(info, remote, 'init'),
    ...info.volumes.flatMap((v) => [
      `incus storage volume create default ${i}-${volumeSlug(v.path)}`,
      `incus config device add ${i} ${volumeSlug(v.path)} disk pool=default source=${i}-${volumeSlug(v.path)} path=${v.path}`,
    ]),
    `incus start ${i}`,
  ].join('\n');
}

/** The health check, run from the host. */
export function healthCommand(info: ApplianceInfo): string | undefined {
  return info.health ? `incus exec ${exampleInstance(info.name)} -- sh -c ${shellQuote(info.health.command)}` : undefined;
}
