/**
 * The Debian mirror URI of the host, derived from its apt configuration exactly like
 * `lib/host/setup.sh` does (keep both in step). The project never names a mirror host: the URI
 * comes from the environment (`APPLIANCE_DEBIAN_MIRROR`) or from the host's apt sources.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths read by {@link debianMirror}; override them in tests. */
export interface MirrorFiles {
  /** os-release file giving `VERSION_CODENAME`. Default `/etc/os-release`. */
  osRelease?: string;
  /** Directory whose `*.sources` (deb822) files are read in name order. Default `/etc/apt/sources.list.d`. */
  sourcesDir?: string;
  /** One-line-style fallback list. Default `/etc/apt/sources.list`. */
  sourcesList?: string;
}

const DEFAULT_FILES: Required<MirrorFiles> = {
  osRelease: '/etc/os-release',
  sourcesDir: '/etc/apt/sources.list.d',
  sourcesList: '/etc/apt/sources.list',
};

/**
 * Returns the first URI of the first enabled deb822 stanza whose `Types` include `deb` and whose
 * `Suites` include `codename` as a whole word (so `bookworm` does not match `bookworm-updates`).
 *
 * Lines starting with `#` are ignored, stanzas are separated by blank lines, field names are
 * case-insensitive, continuation lines (leading whitespace) extend the previous field, and a
 * stanza with `Enabled: no` is skipped.
 *
 * @param text - content of a `*.sources` file
 * @param codename - Debian codename such as `bookworm`
 * @returns the URI, or `undefined` when no stanza matches
 */
export function parseDeb822Mirror(text: string, codename: string): string | undefined {
  let fields = new Map<string, string[]>();
  let current: string | undefined;

  const finish = (): string | undefined => {
    const uris = fields.get('uris') ?? [];
    const types = fields.get('types') ?? [];
    const suites = fields.get('suites') ?? [];
    const enabled = (fields.get('enabled') ?? [])[0]?.toLowerCase() !== 'no';
    fields = new Map();
    current = undefined;
    if (uris.length > 0 && types.includes('deb') && suites.includes(codename) && enabled) return uris[0];
    return undefined;
  };
  const add = (name: string, value: string): void => {
    const words = value.split(/[ \t]+/).filter((w) => w !== '');
    fields.set(name, [...(fields.get(name) ?? []), ...words]);
  };

  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]*#/.test(line)) continue;
    if (/^[ \t]*$/.test(line)) {
      const uri = finish();
      if (uri !== undefined) return uri;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (current !== undefined) add(current, line);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) {
      current = undefined;
      continue;
    }
    current = line.slice(0, colon).toLowerCase();
    add(current, line.slice(colon + 1));
  }
  return finish();
}

/**
 * Returns the URI of the first one-line entry `deb [options] URI SUITE COMPONENT...` whose suite
 * is exactly `codename`. Text after `#` is a comment; `deb-src` lines are ignored; an options
 * block in square brackets (possibly containing spaces) is skipped.
 *
 * @param text - content of a `sources.list` file
 * @param codename - Debian codename such as `bookworm`
 * @returns the URI, or `undefined` when no entry matches
 */
export function parseSourcesListMirror(text: string, codename: string): string | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const words = raw.replace(/#.*/, '').split(/[ \t]+/).filter((w) => w !== '');
    if (words.length < 3 || words[0] !== 'deb') continue;
    let k = 1;
    if (words[k]!.startsWith('[')) {
      while (k < words.length && !words[k]!.endsWith(']')) k++;
      k++;
    }
    if (k + 1 < words.length && words[k + 1] === codename) return words[k];
  }
  return undefined;
}

/**
 * Returns `VERSION_CODENAME` from os-release text (quotes removed), or `undefined`.
 *
 * @param text - content of `/etc/os-release`
 */
export function parseOsReleaseCodename(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const m = /^VERSION_CODENAME=(.*)$/.exec(line);
    if (m) {
      const value = m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2');
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/**
 * The Debian mirror URI to build from: `APPLIANCE_DEBIAN_MIRROR` when set and non-empty; else the
 * first matching stanza for the host codename (from os-release `VERSION_CODENAME`) in the deb822
 * `*.sources` files, read in name order; else the first matching `deb` line of `sources.list`.
 *
 * @param env - environment to read `APPLIANCE_DEBIAN_MIRROR` from
 * @param files - paths to read instead of the host's (for tests)
 * @throws Error naming the files read when no mirror is found or the codename is unknown
 */
export function debianMirror(env: NodeJS.ProcessEnv = process.env, files?: MirrorFiles): string {
  const override = env.APPLIANCE_DEBIAN_MIRROR?.trim();
  if (override) return override;

  const paths = { ...DEFAULT_FILES, ...files };
  let osRelease: string;
  try {
    osRelease = readFileSync(paths.osRelease, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot derive the Debian mirror: cannot read ${paths.osRelease} (${(err as Error).message}); set APPLIANCE_DEBIAN_MIRROR`,
    );
  }
  const codename = parseOsReleaseCodename(osRelease);
  if (codename === undefined) {
    throw new Error(
      `cannot derive the Debian mirror: no VERSION_CODENAME in ${paths.osRelease}; set APPLIANCE_DEBIAN_MIRROR`,
    );
  }

  const read: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(paths.sourcesDir).filter((n) => n.endsWith('.sources'));
  } catch {
    // no sources.list.d: fall through to sources.list
  }
  // Code-unit order, the same as the shell's glob order under LC_ALL=C.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const path = join(paths.sourcesDir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue; // a dangling link or a directory named *.sources
    }
    read.push(path);
    const uri = parseDeb822Mirror(text, codename);
    if (uri !== undefined) return uri;
  }
  if (existsSync(paths.sourcesList)) {
    read.push(paths.sourcesList);
    const uri = parseSourcesListMirror(readFileSync(paths.sourcesList, 'utf8'), codename);
    if (uri !== undefined) return uri;
  }
  const where =
    read.length > 0
      ? read.join(', ')
      : `${join(paths.sourcesDir, '*.sources')} and ${paths.sourcesList} (none exist)`;
  throw new Error(
    `cannot derive the Debian mirror: no deb entry for suite '${codename}' in ${where}; set APPLIANCE_DEBIAN_MIRROR`,
  );
}
