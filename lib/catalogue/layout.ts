/**
 * The frame shared by every catalogue page: head (CSP, viewport, colour schemes, inline style
 * and icon), header, footer, and the inline script at the end of the body.
 * @module
 */
import { CSP, CSS, ICON_SVG, ICON_URL, JS } from './assets.ts';
import { html, trusted, type Html } from './html.ts';
import { commandText, type Command, type Endpoint } from './commands.ts';

/** What every page needs to know about the site. */
export interface Site extends Endpoint {
  /** Site title, e.g. "Appliance registry". */
  title: string;
}

/** Options of {@link page}. */
export interface PageOptions {
  site: Site;
  /** Title of this page (before the site title). */
  title?: string;
  description: string;
  /** Relative path from the page to the registry root: "." or "..". */
  root: '.' | '..';
  body: Html;
}

/** A complete HTML document. */
export function page(o: PageOptions): string {
  const title = o.title ? `${o.title} · ${o.site.title}` : o.site.title;
  return html`<!doctype html>
<html lang="en" data-root="${o.root}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="color-scheme" content="light dark">
<meta name="description" content="${o.description}">
<title>${title}</title>
<link rel="icon" href="${ICON_URL}">
<style>${trusted(CSS)}</style>
</head>
<body>
<header class="top"><div class="wrap"><a class="brand" href="${o.root}/index.html">${trusted(ICON_SVG.replace('<svg ', '<svg width="26" height="26" aria-hidden="true" '))}<span>${o.site.title}</span></a></div></header>
<main id="main" class="wrap">
${o.body}
</main>
<footer><div class="wrap">Static catalogue of a SimpleStreams image registry for Incus and LXD, rewritten at every re-index. Machine-readable index: <a href="${o.root}/streams/v1/images.json">streams/v1/images.json</a>.</div></footer>
<script>${trusted(JS)}</script>
</body>
</html>
`.value;
}

/** A copyable code block; registry-address slots become spans the page script fills in. */
export function codeBlock(cmd: Command | string, endpoint: Endpoint, label?: string): Html {
  const parts = typeof cmd === 'string' ? [cmd] : cmd;
  const inner = parts.map((p) => (typeof p === 'string' ? html`${p}` : html`<span data-${p.slot}>${commandText([p], endpoint)}</span>`));
  return html`<div class="code"><pre${label ? html` aria-label="${label}"` : ''}><code>${inner}</code></pre></div>`;
}
