/**
 * HTML escaping for the catalogue pages, in one place. Every page is built with the {@link html}
 * tag: interpolated values are escaped unless they are already {@link Html} (a fragment built
 * by the tag itself, or the sanitised Markdown output), so a description, a setting or a README
 * can never inject markup.
 * @module
 */

/** A fragment of trusted HTML (escaped or produced by a trusted renderer). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Marks a string as trusted HTML. Only for output of a sanitising renderer or constants. */
export function trusted(markup: string): Html {
  return new Html(markup);
}

function part(v: unknown): string {
  if (v === undefined || v === null || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(part).join('');
  return escapeHtml(String(v));
}

/**
 * Template tag: `html\`<td>${value}</td>\`` escapes `value`; nested `html` fragments and arrays
 * of them are inserted as they are; `undefined`, `null` and `false` insert nothing.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Html(out);
}

/**
 * Text with Markdown-style `code spans` (as declarations write descriptions) as HTML: the text
 * escaped, each backquoted part in `<code>`.
 */
export function withCode(text: string): Html {
  return new Html(text.split(/`([^`]+)`/).map((t, i) => (i % 2 ? `<code>${escapeHtml(t)}</code>` : escapeHtml(t))).join(''));
}
