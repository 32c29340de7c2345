/**
 * Debian version comparison (deb-version(7), dpkg's `verrevcmp`), so the CVE audit can decide
 * "installed < fixed" without running `dpkg --compare-versions` once per package and CVE
 * (thousands of calls) and on hosts without dpkg. Cross-checked against dpkg in
 * test/trust/debversion.test.ts.
 * @module
 */

/** A parsed Debian version: `[epoch:]upstream[-revision]`. */
export interface DebVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** What dpkg refuses outright (it only warns about odd characters, and so do we not). */
const BAD = /\s/;

/**
 * Parses a version; throws an Error naming the version when it is not a Debian version
 * (dpkg refuses those too).
 */
export function parseDebVersion(text: string): DebVersion {
  const v = text.trim();
  const colon = v.indexOf(':');
  let epoch = 0;
  let rest = v;
  if (colon >= 0) {
    const e = v.slice(0, colon);
    if (!/^\d+$/.test(e)) throw new Error(`"${text}" is not a Debian version (epoch "${e}" is not a number)`);
    epoch = Number(e);
    rest = v.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (!upstream || BAD.test(v)) throw new Error(`"${text}" is not a Debian version (${upstream ? 'it contains white space' : 'no upstream version'})`);
  if (dash >= 0 && !revision) throw new Error(`"${text}" is not a Debian version (empty revision after "-")`);
  return { epoch, upstream, revision };
}

/** dpkg's character weight: `~` before everything (even the end), letters before other symbols. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (c >= '0' && c <= '9') return 0;
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Compares two upstream or revision strings the way dpkg does: <0, 0 or >0. */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // A run of non-digits, character by character.
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const d = order(a[i]) - order(b[j]);
      if (d) return d;
      i++;
      j++;
    }
    // Then a run of digits, as numbers (leading zeros ignored, no overflow).
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    let first = 0;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!first) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (first) return first;
  }
  return 0;
}

/**
 * Compares two Debian versions: negative when `a` is older, 0 when equal, positive when newer.
 * @throws Error when either is not a Debian version
 */
export function compareDebVersions(a: string, b: string): number {
  const x = parseDebVersion(a);
  const y = parseDebVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
}
