/**
 * The catalogue's front page (`index.html`): how to add the registry, then one card per
 * appliance with its description, version, base, architectures with image sizes, last build
 * and the one-line launch command.
 * @module
 */
import { certificateCommand, quickLaunch, remoteAddCommand } from './commands.ts';
import { formatDay } from './format.ts';
import { formatBytes } from '../format.ts';
import { html, withCode, type Html } from './html.ts';
import { codeBlock, page, type Site } from './layout.ts';
import type { ApplianceView } from './view.ts';

/** Path of an appliance's page, relative to the registry root. */
export function appliancePath(name: string): string {
  return `appliances/${name}.html`;
}

function searchText(a: ApplianceView): string {
  return [a.name, a.info.description, a.base, ...a.archs.map((x) => x.arch), ...Object.keys(a.info.settings)].join(' ').toLowerCase();
}

function card(a: ApplianceView, site: Site): Html {
  const sizes = a.archs.map((x) => html`<span class="badge" title="download size of the newest ${x.arch} image">${x.arch} · ${formatBytes(x.versions[0].size)}</span>`);
  return html`<li class="card" data-search="${searchText(a)}">
<h2><a href="${appliancePath(a.name)}">${a.name}</a> <span class="badge">${a.version}</span></h2>
<p>${withCode(a.info.description)}</p>
<dl class="facts"><dt>Base</dt><dd>${a.base || 'unknown'}</dd><dt>Updated</dt><dd><time datetime="${a.updated?.toISOString()}">${formatDay(a.updated)}</time></dd></dl>
<div class="badges" aria-label="architectures and image sizes">${sizes}</div>
${codeBlock(quickLaunch(a.info, site.remote), site, `launch ${a.name}`)}
</li>`;
}

/** The front page of the catalogue. */
export function indexPage(apps: ApplianceView[], site: Site): string {
  const n = apps.length;
  const body = html`<h1>${site.title}</h1>
<p class="lead">${n === 0 ? 'No appliance has been built into this registry yet.' : `${n} ready-to-run Incus system-container appliance${n === 1 ? '' : 's'}: configure them at launch, keep their data on volumes, check their health.`}</p>
<section class="panel" aria-labelledby="start">
<h2 id="start">Add this registry to Incus</h2>
${codeBlock(remoteAddCommand(site.remote), site, 'add the remote')}
<p class="note">Then <code>incus image list ${site.remote}:</code>, and launch an appliance below with the command on its card; its page has the settings.</p>
<details><summary>Self-signed certificate (the default of <code>build.ts serve</code>)? Trust it first.</summary>
<p class="note">The certificate copy is the whole trust step of a SimpleStreams remote. Compare the fingerprint printed with the SHA-256 the server printed at start.</p>
${codeBlock(certificateCommand(site.remote), site, 'trust the certificate')}
</details>
</section>
<div class="filter" hidden><label for="filter">Filter appliances</label><input id="filter" type="search" placeholder="name, setting, architecture…" autocomplete="off"></div>
<p id="none" class="muted" role="status" hidden>No appliance matches.</p>
<ul class="grid" aria-label="appliances">
${apps.map((a) => card(a, site))}
</ul>`;
  return page({ site, description: `${site.title}: ${apps.map((a) => a.name).join(', ') || 'no appliances yet'}`, root: '.', body });
}
