/**
 * One appliance's page (`appliances/<name>.html`): what it is, how to add the registry and
 * launch it with its example settings, its settings, ports, volumes and health check from the
 * declaration, the versions the registry keeps (fingerprints, sizes, dates, files), and its
 * README's prose.
 * @module
 */
import { exampleInstance, volumeSlug } from '../../appliances/_shared/readme.ts';
import { deviceName } from '../compile/profile.ts';
import { settingConfigKey } from '../compile/settings.ts';
import {
  certificateCommand, healthCommand, launchCommand, profileCommand, remoteAddCommand, volumeCommands,
} from './commands.ts';
import { formatDate } from './format.ts';
import { formatBytes } from '../format.ts';
import { html, withCode, type Html } from './html.ts';
import { codeBlock, page, type Site } from './layout.ts';
import { renderReadme } from './markdown.ts';
import type { ApplianceView, ArchView, FileRef } from './view.ts';

const td = (v: unknown) => html`<td>${v}</td>`;
const table = (label: string, head: string[], rows: Html[]) =>
  html`<div class="table"><table aria-label="${label}"><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;

function launchSection(a: ApplianceView, site: Site): Html {
  const i = a.info;
  const profile = profileCommand(i);
  const health = healthCommand(i);
  return html`<section aria-labelledby="launch"><h2 id="launch">Launch</h2>
<ol class="steps">
<li><p>Add the registry as a remote:</p>${codeBlock(remoteAddCommand(site.remote), site, 'add the remote')}
<p class="note">Self-signed certificate (the default of <code>build.ts serve</code>)? Trust it first, and compare the fingerprint with the SHA-256 the server printed at start:</p>
${codeBlock(certificateCommand(site.remote), site, 'trust the certificate')}</li>
<li><p>Launch ${Object.values(i.settings).some((s) => s.example !== undefined) ? 'it with the example settings (replace the values with yours):' : 'it:'}</p>${codeBlock(launchCommand(i, site.remote), site, `launch ${a.name}`)}</li>
${profile ? html`<li><p>Publish its ports on the host with a profile of proxy devices (the <code>profile</code> verb's output):</p>${codeBlock(profile, site, 'profile')}</li>` : ''}
${health ? html`<li><p>Check it is healthy (exit status 0; allow ${i.health?.timeout ?? 60} s after launch):</p>${codeBlock(health, site, 'health check')}</li>` : ''}
</ol></section>`;
}

function settingsSection(a: ApplianceView): Html {
  const entries = Object.entries(a.info.settings);
  const rows = entries.map(([k, s]) => html`<tr><td><code>${settingConfigKey(a.name, k)}</code></td>${td(withCode(s.description))}<td>${s.default !== undefined ? html`<code>${s.default}</code>` : html`<span class="muted">(empty)</span>`}</td><td>${s.secret ? html`<span class="secret">yes</span>: removed from disk once applied` : 'no'}</td><td>${s.example !== undefined ? html`<code>${s.example}</code>` : ''}</td></tr>`);
  return html`<section aria-labelledby="settings"><h2 id="settings">Settings</h2>
${entries.length
    ? html`<p>Instance config keys, checked and applied at every start (an invalid value keeps the service stopped): <code>-c ${settingConfigKey(a.name, 'KEY')}=VALUE</code> at launch, or <code>incus config set</code> and a restart; <code>incus exec NAME -- appliance status</code> shows what was applied.</p>${table('launch-time settings', ['Key', 'Description', 'Default', 'Secret', 'Example'], rows)}`
    : html`<p class="muted">This appliance has no launch-time settings.</p>`}
</section>`;
}

function portsVolumesHealth(a: ApplianceView, site: Site): Html {
  const i = a.info;
  const ports = i.ports.map((p) => html`<tr>${td(p.port)}${td(p.protocol ?? 'tcp')}${td(withCode(p.description))}<td>${p.localOnly ? html`<span class="muted">127.0.0.1 only inside the container</span>` : html`<code>${deviceName(a.name, p)}</code>`}</td></tr>`);
  const vols = i.volumes.map((v) => html`<tr><td><code>${v.path}</code></td>${td(withCode(v.description))}<td><code>${exampleInstance(a.name)}-${volumeSlug(v.path)}</code></td></tr>`);
  const volCmd = volumeCommands(i, site.remote);
  return html`<section aria-labelledby="ports"><h2 id="ports">Ports</h2>
${ports.length ? table('ports', ['Port', 'Protocol', 'What', 'Proxy device'], ports) : html`<p class="muted">This appliance listens on no ports.</p>`}
</section>
<section aria-labelledby="volumes"><h2 id="volumes">Volumes</h2>
${vols.length
    ? html`${table('volumes', ['Path', 'What lives there', 'Suggested volume'], vols)}<p>Create and attach them before the first start, so the data survives <code>incus rebuild</code>:</p>${codeBlock(volCmd ?? '', site, 'volumes')}`
    : html`<p class="muted">This appliance keeps no data worth a volume.</p>`}
</section>
<section aria-labelledby="health"><h2 id="health">Health check</h2>
${i.health
    ? html`<p>Run inside the container until it exits 0, for up to ${i.health.timeout ?? 60} s after launch:</p><p><code>${i.health.command}</code></p>
${i.tests.length ? html`<p>What <code>build.ts test ${a.name}</code> checks after launching with the example settings:</p><ul>${i.tests.map((t) => html`<li>${withCode(t)}</li>`)}</ul>` : ''}`
    : html`<p class="muted">This appliance declares no health check.</p>`}
</section>`;
}

const fileLink = (f: FileRef) => html`<a href="../${f.path}">${f.label}</a> <span class="muted">(${formatBytes(f.size)})</span>`;

function archTable(a: ApplianceView, x: ArchView): Html {
  const rows = x.versions.map((v, n) => html`<tr><td><code>${v.key}</code>${n === 0 ? html` <span class="badge">newest</span>` : ''}</td>${td(v.applianceVersion)}<td><time datetime="${v.date?.toISOString()}">${formatDate(v.date)}</time></td>
<td><details class="fp"><summary><code>${v.fingerprint.slice(0, 12)}</code></summary><code>${v.fingerprint}</code></details></td>${td(formatBytes(v.size))}
<td>${[...v.files, ...v.attachments].map((f, k) => html`${k ? ' · ' : ''}${fileLink(f)}`)}</td></tr>`);
  return html`<h3 id="versions-${x.arch}">${x.arch}</h3>${table(`${a.name} ${x.arch} versions`, ['Version', 'Appliance', 'Built', 'Fingerprint', 'Size', 'Files'], rows)}`;
}

function versionsSection(a: ApplianceView, site: Site): Html {
  return html`<section aria-labelledby="versions"><h2 id="versions">Versions</h2>
<p>The newest version of each architecture owns the aliases <code>${a.name}</code> and <code>${a.name}/${a.version}</code>; older ones stay launchable by fingerprint (<code>incus launch ${site.remote}:FINGERPRINT</code>) until retention drops them.</p>
${a.archs.map((x) => archTable(a, x))}
</section>`;
}

/** The page of one appliance. */
export function appliancePage(a: ApplianceView, site: Site): string {
  const i = a.info;
  const readme = i.readme ? renderReadme(i.readme) : undefined;
  const body = html`<nav class="crumbs" aria-label="breadcrumb"><a href="../index.html">All appliances</a> / ${a.name}</nav>
<h1>${a.name}</h1>
<p class="lead">${i.description}</p>
<div class="badges"><span class="badge">version ${a.version}</span><span class="badge">${a.base || 'unknown base'}</span>${a.archs.map((x) => html`<span class="badge">${x.arch}</span>`)}</div>
${i.declared ? '' : html`<p class="note">The declaration of this build was not available when it was indexed: settings, ports, volumes and the health check are not shown.</p>`}
${launchSection(a, site)}
${i.declared ? html`${settingsSection(a)}${portsVolumesHealth(a, site)}` : ''}
${versionsSection(a, site)}
${readme ? html`<section aria-labelledby="readme" class="readme"><h2 id="readme">About ${a.name}</h2>${readme}</section>` : ''}`;
  return page({ site, title: a.name, description: `${a.name} ${a.version}: ${i.description}`, root: '..', body });
}
