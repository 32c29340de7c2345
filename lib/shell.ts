/**
 * The one helper that puts a value into a shell script. Every generated script (the
 * service-enabling step, the settings apply script) and every printed command line quotes
 * values through it, so no name or key can become shell text even if a check upstream misses it.
 * @module
 */

/**
 * Quotes `s` for a POSIX shell: left as is when it holds only characters that are never special
 * (letters, digits, `_@%+=:,./-`), else single-quoted with embedded quotes as `'\''`.
 * @example shellQuote('nginx') // nginx
 * @example shellQuote('cron; touch /tmp/x') // 'cron; touch /tmp/x'
 */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
