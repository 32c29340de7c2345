/**
 * The text of a scaffolded appliance (`npx tsx build.ts new`): appliance.ts, its configure
 * script, a systemd drop-in, the README skeleton (its generated sections are filled later from
 * the loaded appliance) and the catalogue row. Pure: options in, text out.
 *
 * What the scaffold relies on holds for any Debian package whose systemd service listens on a
 * TCP port: the health check connects to the port with bash's `/dev/tcp` (no curl in the
 * image), one check reads the kernel's listening sockets, and the example setting reaches the
 * service as an environment variable through an `EnvironmentFile=` drop-in.
 * @module
 */
import { catalogueRowStart } from '../../appliances/_shared/readme-rules.ts';
import { volumeSlug } from '../../appliances/_shared/readme.ts';

/** What `new` was asked for, already validated (see `options.ts`). */
export interface ScaffoldOptions {
  /** Appliance name (folder name and image alias). */
  name: string;
  /** Debian packages to install; the first is the service's. */
  packages: string[];
  /** TCP port the service listens on. */
  port: number;
  /** systemd service (unit name without `.service`). */
  service: string;
}

/** The settings' example values: what `test` launches with and the checks look for. */
export const EXAMPLE_GREETING = 'hello-from-launch';

/** A TypeScript string literal: single-quoted, or double-quoted when that needs no escape. */
function ts(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  return `${q}${s.replace(/\\/g, '\\\\').replaceAll(q, `\\${q}`)}${q}`;
}

/** The command line that made the scaffold (for comments and the README). */
export function newCommand(o: ScaffoldOptions): string {
  const pkgs = o.packages.map((p) => ` --package ${p}`).join('');
  return `npx tsx build.ts new ${o.name}${pkgs} --port ${o.port}${o.service !== o.packages[0] ? ` --service ${o.service}` : ''}`;
}

/** Where configure.sh writes the environment file the service reads. */
export function envFile(o: ScaffoldOptions): string {
  return `/etc/${o.name}/appliance.env`;
}

/** The health check: the service is active and accepts a TCP connection on its port. */
export function healthCommand(o: ScaffoldOptions): string {
  return `systemctl is-active --quiet ${o.service} && bash -c ': </dev/tcp/127.0.0.1/${o.port}'`;
}

/**
 * A check that the port listens on every address (0.0.0.0 or ::), not only loopback: a
 * LISTEN (0A) line of /proc/net/tcp or tcp6 with an all-zero local address and the port in hex.
 */
export function listensEverywhereCommand(port: number): string {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return `grep -Eq '^ *[0-9]+: 0+:${hex} [0-9A-F]+:[0-9A-F]+ 0A ' /proc/net/tcp /proc/net/tcp6`;
}

/** appliances/<name>/appliance.ts */
export function applianceTs(o: ScaffoldOptions): string {
  const s = o.service;
  return `import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

// Scaffolded by \`${newCommand(o)}\`:
// it validates, builds and passes \`npx tsx build.ts test ${o.name}\` as it is.
// Make it yours: replace the example setting \`greeting\` with real settings of ${s}
// (files/configure.sh applies them), check the data folder under \`volumes\`, add a check under
// \`tests\` for each setting, then refresh the README (\`UPDATE_README=1 npm test -- appliances/readme\`).
// Every field is documented in lib/compile/model.ts (hover it) and in docs/creating-appliances.md.
// Undo everything \`new\` did: npx tsx build.ts new --remove ${o.name}

/** Values of the launch-time settings that \`test\` launches with (and the README shows). */
const EXAMPLE = { greeting: ${ts(EXAMPLE_GREETING)} };

export default defineAppliance({
  name: ${ts(o.name)}, // the image alias (incus launch appliance:${o.name}); equals the folder name
  version: '1.0', // the version of ${o.packages[0]} you ship; also published as the alias ${o.name}/1.0
  description: ${ts(`${o.packages[0]} (Debian package) as an Incus appliance`)},
  base: debian(), // Debian 13 (trixie); debian({ release: 'bookworm' }) for Debian 12
  architectures: ['amd64', 'arm64'],
  packages: [${o.packages.map(ts).join(', ')}],
  // removePackages: [], // optional: packages to remove after installing (a smaller image)
  services: [${ts(s)}], // systemd units enabled at boot, started after the settings are applied
  // waitForNetwork: 'why', // optional: only if ${s} must reach the network to start, saying why (the boot then waits ~1 s for DHCP)
  files: [
    // ${s} reads the environment file configure.sh writes at first boot.
    { source: 'environment.conf', path: ${ts(`/etc/systemd/system/${s}.service.d/appliance.conf`)} },
  ],
  // actions: [{ trigger: 'post-files', script: '#!/bin/sh\\nset -eu\\n...' }], // optional: build-time scripts run in the image
  ports: [{ port: ${o.port}, description: ${ts(`${s} (TCP)`)} }], // published by \`npx tsx build.ts profile ${o.name}\`
  // Data that must survive \`incus rebuild\` on a custom volume: check where ${s} keeps it.
  volumes: [{ path: ${ts(`/var/lib/${o.packages[0]}`)}, description: ${ts(`data of ${o.packages[0]} (the Debian package's state folder)`)} }],
  settings: {
    greeting: {
      description: ${ts(`An example setting (replace it with a real one): configure.sh writes it to ${envFile(o)}, which ${s} reads as the environment variable GREETING.`)},
      default: 'hello',
      example: EXAMPLE.greeting,
    },
    // A secret: { description: '...', secret: true, example: 'Example-Passw0rd' } (never a default).
  },
  configure: 'configure.sh', // applies the settings at every start, before ${s} starts
  health: { command: ${ts(healthCommand(o))}, timeout: 60 },
  // Run by \`npx tsx build.ts test ${o.name}\` in a container launched with every example value:
  // each should prove a setting took effect.
  tests: [
    {
      name: ${ts(`${s} listens on TCP port ${o.port} on every address`)},
      command: ${ts(listensEverywhereCommand(o.port))},
    },
    {
      name: ${ts(`the greeting given at launch reached the environment of ${s}`)},
      command: \`pid=$(systemctl show -p MainPID --value ${s}) && tr '\\\\0' '\\\\n' < /proc/$pid/environ | grep -qxF 'GREETING=\${EXAMPLE.greeting}'\`,
    },
  ],
  // raw: { ... }, // optional: raw distrobuilder sections (docs/creating-appliances.md, "The escape hatch")
});
`;
}

/** appliances/<name>/files/configure.sh */
export function configureSh(o: ScaffoldOptions): string {
  const env = envFile(o);
  return `#!/bin/sh
# Applies the launch-time settings of ${o.name} at first boot (and after \`incus rebuild\`), before
# ${o.service} starts. $1 is an env file of shell-quoted KEY='value' lines, one per setting
# (upper-case key): GREETING.
# Values are untrusted text: validate each before it reaches a configuration file.
set -eu
. "$1"
greeting=\${GREETING:-}

case "$greeting" in
  *[!A-Za-z0-9._@:+-]*) echo "user.${o.name}.greeting: \\"$greeting\\" may hold only letters, digits and . _ @ : + -" >&2; exit 1 ;;
esac

install -d -m 0755 /etc/${o.name}
printf '# Written at first boot from user.${o.name}.greeting.\\nGREETING=%s\\n' "$greeting" > ${env}.new
mv ${env}.new ${env}
`;
}

/** appliances/<name>/files/environment.conf: the systemd drop-in of the service. */
export function environmentConf(o: ScaffoldOptions): string {
  return `# ${o.service} gets the values configure.sh wrote at first boot as environment variables
# ("-": no error when the file is missing).
[Service]
EnvironmentFile=-${envFile(o)}
`;
}

/** appliances/<name>/README.md, with empty generated sections (filled from appliance.ts). */
export function readmeSkeleton(o: ScaffoldOptions): string {
  const n = o.name;
  const slug = volumeSlug(`/var/lib/${o.packages[0]}`);
  const part = (kind: string) => `<!-- generated:${kind} -->\n<!-- /generated:${kind} -->`;
  return `# ${n} appliance

${o.packages[0]} from the Debian 13 (trixie) package as an Incus system container, scaffolded by
\`${newCommand(o)}\`.
Replace this paragraph with what the service does and what the appliance changes from the
package's defaults.

Image size: Not measured: \`npx tsx build.ts test ${n}\` prints it (IMAGE column); write it here
in bold as **N.N MiB** and in the Size section.

## Launch

${part('launch')}

## Launch-time settings

Each setting is an Incus instance config key. Incus renders it into
\`/etc/appliance/settings.d/\` (a root-only folder) when the instance is created; a first-boot unit
applies it before ${o.service} starts, then deletes the secret ones. Nothing is baked into the image.

${part('settings')}

Settings are checked and applied at every start, before the service (it stays stopped when one is invalid); \`incus exec <instance> -- appliance status\` shows what was applied.

## Ports

${part('ports')}

### A profile with proxy devices

\`npx tsx build.ts profile ${n}\` prints an Incus profile that forwards the host's ports to
127.0.0.1 in the container:

\`\`\`sh
npx tsx build.ts profile ${n} > ${n}.yaml
incus profile create ${n} < ${n}.yaml
incus launch appliance:${n} ${n} --profile default --profile ${n}
\`\`\`

## Persistent data

${part('volumes')}

## Health check

${part('health')}

## Snapshots, backup and restore

\`\`\`sh
# Whole instance (root disk; custom volumes are separate):
incus snapshot create ${n} before-change
incus snapshot restore ${n} before-change
incus export ${n} ${n}-backup.tar.gz          # incus import ${n}-backup.tar.gz

# The data volume (restore with the instance stopped):
incus storage volume snapshot create default ${n}-${slug} nightly
incus storage volume snapshot restore default ${n}-${slug} nightly
incus storage volume export default ${n}-${slug} ${n}-${slug}.tar.gz
\`\`\`

## Upgrade to a new image, keeping the data

\`\`\`sh
incus stop ${n}
incus rebuild appliance:${n} ${n}
incus start ${n}
\`\`\`

The settings are applied again at the first boot of the new image.

## Size

Not measured: run \`npx tsx build.ts test ${n}\` and write the size of \`rootfs.squashfs\` here
(what dominates it: \`incus exec ${n} -- du -xsh /usr/* | sort -h\`).

## Bases

- **Debian 13 (trixie)**: the published image (\`export default\` in \`appliance.ts\`).
- **Alpine**: no variant. To offer one, export \`variants = { alpine: ... }\` (see
  docs/creating-appliances.md); Alpine images are not built on our CI, whose machines cannot
  reach Alpine's mirror.

## How it was tested

\`npx tsx build.ts test ${n}\` launches it with every example value, waits for the health check
and runs the checks listed under "Health check". Say here what else you verified by hand.
`;
}

/** The appliance's row in the table of docs/appliances.md. */
export function catalogueRow(o: ScaffoldOptions): string {
  return `${catalogueRowStart(o.name)} ${o.packages[0]} (Debian package) | ${o.port} | \`greeting\` | not measured yet | |`;
}
