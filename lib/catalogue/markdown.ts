/**
 * An appliance README as HTML for its catalogue page, with marked (CommonMark + GFM tables).
 * The page shows settings, ports, volumes and the health check from the declaration already,
 * so the README's generated parts (`<!-- generated:KIND -->` blocks) are left out and only the
 * prose remains. Output is safe to embed: raw HTML in the Markdown is shown as text, links
 * that would not resolve on a static registry (relative paths into the git repository) become
 * plain text, images become their alt text (no external requests: the page works offline).
 * @module
 */
import { Marked, type Tokens } from 'marked';
import { escapeHtml, trusted, type Html } from './html.ts';

/** A heading's anchor: lower-case words joined by dashes (GitHub's form for plain headings). */
export function slug(text: string): string {
  return text.toLowerCase().replace(/<[^>]*>/g, '').replace(/[^\p{L}\p{N}\s-]/gu, '').trim().replace(/\s+/g, '-');
}

/** Removes the generated parts and the first-level title (the page has its own). */
export function readmeProse(markdown: string): string {
  return markdown
    .replace(/<!-- generated:([a-z]+) -->[\s\S]*?<!-- \/generated:\1 -->\n?/g, '')
    .replace(/^# .*\n+/, '');
}

/** Only absolute web links and same-page anchors survive; anything else has no target here. */
function linkable(href: string): boolean {
  return /^https?:\/\//i.test(href) || /^#[\w-]+$/.test(href);
}

/**
 * Renders a README's prose. Headings are shifted down by `shift` levels (the README's `##`
 * sections sit under the page's own `<h2>`) and get `id`s prefixed with `readme-` (apart from
 * the page's own sections), and in-README anchors are rewritten to match.
 */
export function renderReadme(markdown: string, shift = 1): Html {
  const marked = new Marked({
    gfm: true,
    renderer: {
      html({ text }: Tokens.HTML | Tokens.Tag) {
        return escapeHtml(text);
      },
      heading({ tokens, depth, text }: Tokens.Heading) {
        const level = Math.min(6, depth + shift);
        return `<h${level} id="readme-${escapeHtml(slug(text))}">${this.parser.parseInline(tokens)}</h${level}>\n`;
      },
      link({ href, title, tokens }: Tokens.Link) {
        const inner = this.parser.parseInline(tokens);
        if (!linkable(href)) return inner;
        const target = href.startsWith('#') ? `#readme-${href.slice(1)}` : href;
        return `<a href="${escapeHtml(target)}"${title ? ` title="${escapeHtml(title)}"` : ''}>${inner}</a>`;
      },
      image({ text }: Tokens.Image) {
        return escapeHtml(text);
      },
    },
  });
  return trusted(marked.parse(readmeProse(markdown), { async: false }));
}
