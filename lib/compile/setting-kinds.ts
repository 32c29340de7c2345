/**
 * Typed setting kinds: what a value of `user.<appliance>.<key>` may be.
 *
 * A kind is declared once in the appliance model (`settings.<key>.type`), checked on the host
 * against the setting's `default` and `example` (`validate`), and compiled into the generated
 * data file the in-image `appliance` command sources (`lib/guest/appliance.sh`), which checks the
 * instance's values with the same rules before anything is applied. {@link checkValue} is the
 * reference; the unit tests run the guest check on the same table and expect the same verdicts.
 *
 * An empty value means "not set": it passes every kind unless the setting is `required`.
 * Every kind but `pem` is a single line.
 * @module
 */
import { shellQuote } from '../shell.ts';

/** Any single line of text, optionally bounded in length. */
export interface StringKind {
  kind: 'string';
  /** Longest accepted value, in bytes. */
  maxLength?: number;
}
/** A decimal integer, optionally within `[min, max]`. */
export interface IntegerKind {
  kind: 'integer';
  /** Smallest accepted value. */
  min?: number;
  /** Largest accepted value. */
  max?: number;
}
/** `true` or `false`. */
export interface BooleanKind {
  kind: 'boolean';
}
/** One of a fixed list of words. */
export interface EnumKind {
  kind: 'enum';
  /** The accepted values (no spaces). */
  values: readonly string[];
}
/** A whole value matching a POSIX extended regular expression (grep -E), with a hint for humans. */
export interface PatternKind {
  kind: 'pattern';
  /** ERE matched against the whole value (no anchors needed); keep it to POSIX classes. */
  pattern: string;
  /** What the rule means, e.g. "letters, digits, _ and -, starting with a letter". */
  hint: string;
}
/** A size: digits with an optional unit b, k, kb, m, mb, g, gb, t, tb (any case), e.g. `256mb`. */
export interface SizeKind {
  kind: 'size';
}
/** A duration: digits with a unit ms, s, m, h, d, w or y, e.g. `30s`, `15d`. */
export interface DurationKind {
  kind: 'duration';
}
/** One or more PEM blocks (certificates, keys): multi-line. */
export interface PemKind {
  kind: 'pem';
}
/** A comma-separated list of DNS host names (RFC 1123 labels), e.g. `db.example.net,localhost`. */
export interface HostnamesKind {
  kind: 'hostnames';
}

/**
 * IP addresses or CIDR ranges separated by spaces or commas, e.g. `192.168.0.0/16 fc00::/7`
 * (allow lists). The form only: the service has the last word on the numbers (`10.0.0.300`).
 */
export interface CidrsKind {
  kind: 'cidrs';
}
/**
 * `host:port` pairs separated by spaces or commas, IPv6 in brackets, e.g.
 * `10.0.0.5:8080 [2001:db8::5]:8080 db.example.net:9100` (backends, scrape targets).
 */
export interface HostPortsKind {
  kind: 'hostports';
}
/** One e-mail address, e.g. `admin@example.net` (ACME accounts). */
export interface EmailKind {
  kind: 'email';
}

/** What a setting's value may be (see each kind). */
export type SettingKind =
  | StringKind | IntegerKind | BooleanKind | EnumKind | PatternKind | SizeKind | DurationKind | PemKind | HostnamesKind
  | CidrsKind | HostPortsKind | EmailKind;

/** Every kind's name. */
export const KIND_NAMES = ['string', 'integer', 'boolean', 'enum', 'pattern', 'size', 'duration', 'pem', 'hostnames', 'cidrs', 'hostports', 'email'] as const;

const SIZE_RE = /^[0-9]+([bB]|[kKmMgGtT][bB]?)?$/;
const DURATION_RE = /^[0-9]+(ms|s|m|h|d|w|y)$/;
const LABEL = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME_RE = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

const IPV4 = '([0-9]{1,3}\\.){3}[0-9]{1,3}';
const IPV6 = '[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}';

/**
 * The ERE the guest uses for sizes, durations, host names and the items of the list kinds (the
 * JS checks are built from the same text, so both sides agree).
 */
export const GUEST_PATTERNS = {
  size: '[0-9]+([bB]|[kKmMgGtT][bB]?)?',
  duration: '[0-9]+(ms|s|m|h|d|w|y)',
  hostname: `${LABEL}(\\.${LABEL})*`,
  cidr: `${IPV4}(/[0-9]{1,2})?|${IPV6}(/[0-9]{1,3})?`,
  hostport: `(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?):[0-9]{1,5}`,
  email: `[A-Za-z0-9._%+-]+@${LABEL}(\\.${LABEL})+`,
} as const;

const whole = (ere: string) => new RegExp(`^(${ere})$`);
const CIDR_RE = whole(GUEST_PATTERNS.cidr);
const HOSTPORT_RE = whole(GUEST_PATTERNS.hostport);
const EMAIL_RE = whole(GUEST_PATTERNS.email);
/** The items of a list separated by spaces or commas (none: not a list). */
const items = (v: string) => v.split(/[ ,]+/).filter(Boolean);

/** The rule of a kind, in words (what `appliance status` and `validate` print). */
export function describeKind(k: SettingKind): string {
  switch (k.kind) {
    case 'string': return k.maxLength !== undefined ? `one line of at most ${k.maxLength} bytes` : 'one line of text';
    case 'integer':
      if (k.min !== undefined && k.max !== undefined) return `an integer from ${k.min} to ${k.max}`;
      if (k.min !== undefined) return `an integer of at least ${k.min}`;
      if (k.max !== undefined) return `an integer of at most ${k.max}`;
      return 'an integer';
    case 'boolean': return 'true or false';
    case 'enum': return `one of: ${k.values.join(', ')}`;
    case 'pattern': return k.hint;
    case 'size': return 'a size such as 512kb, 256mb or 1gb';
    case 'duration': return 'a duration such as 30s, 15m, 2h or 7d';
    case 'pem': return 'PEM text (-----BEGIN ...----- to -----END ...-----)';
    case 'hostnames': return 'comma-separated host names such as db.example.net,localhost';
    case 'cidrs': return 'IP addresses or CIDR ranges separated by spaces or commas, such as 192.168.0.0/16 fc00::/7';
    case 'hostports': return 'host:port pairs separated by spaces or commas (IPv6 as [address]:port), such as 10.0.0.5:8080';
    case 'email': return 'an e-mail address such as admin@example.net';
  }
}

/**
 * Checks `value` against `kind`. The reference implementation of the guest check.
 * @returns undefined when valid, else the rule it broke (from {@link describeKind})
 */
export function checkValue(kind: SettingKind, value: string, required = false): string | undefined {
  if (value === '') return required ? `required: ${describeKind(kind)}` : undefined;
  const rule = describeKind(kind);
  if (kind.kind !== 'pem' && /[\n\r]/.test(value)) return rule;
  switch (kind.kind) {
    case 'string': return kind.maxLength !== undefined && Buffer.byteLength(value) > kind.maxLength ? rule : undefined;
    case 'integer': {
      if (!/^-?[0-9]{1,15}$/.test(value)) return rule;
      const n = Number(value);
      return (kind.min !== undefined && n < kind.min) || (kind.max !== undefined && n > kind.max) ? rule : undefined;
    }
    case 'boolean': return value === 'true' || value === 'false' ? undefined : rule;
    case 'enum': return kind.values.includes(value) ? undefined : rule;
    case 'pattern': return new RegExp(`^(${kind.pattern})$`).test(value) ? undefined : rule;
    case 'size': return SIZE_RE.test(value) ? undefined : rule;
    case 'duration': return DURATION_RE.test(value) ? undefined : rule;
    case 'pem': return /^-----BEGIN [A-Z0-9 ]+-----$/m.test(value) && /^-----END [A-Z0-9 ]+-----$/m.test(value) ? undefined : rule;
    case 'hostnames': return value.split(',').every((h) => HOSTNAME_RE.test(h)) ? undefined : rule;
    case 'cidrs': return items(value).length && items(value).every((x) => CIDR_RE.test(x)) ? undefined : rule;
    case 'hostports': return items(value).length && items(value).every((x) => HOSTPORT_RE.test(x)) ? undefined : rule;
    case 'email': return EMAIL_RE.test(value) ? undefined : rule;
  }
}

/**
 * A value that breaks `kind`, for the day-two check of the `test` verb: a bad value must keep
 * the service stopped. It carries `$(<injection>)` so that, were it ever run by a shell, the
 * injection would leave a trace the check looks for. Non-numeric for integers (the issue's
 * "abc" case); for a pattern that would accept it, a second line (every kind but `pem` is one
 * line). Always refused by {@link checkValue}.
 */
export function badValue(kind: SettingKind, injection: string): string {
  const payload = `$(${injection})`;
  const first = (() => {
    switch (kind.kind) {
      case 'string': return kind.maxLength !== undefined ? payload + 'x'.repeat(kind.maxLength + 1) : undefined;
      case 'integer': return `abc${payload}`;
      case 'boolean': return `maybe${payload}`;
      case 'enum': return `not-one-of-them${payload}`;
      case 'size': return `lots${payload}`;
      case 'duration': return `soon${payload}`;
      case 'pem': return `not PEM ${payload}`;
      case 'hostnames': return `bad_host;${payload}`;
      case 'cidrs': return `10.0.0.0/8;${payload}`;
      case 'hostports': return `no-port;${payload}`;
      case 'email': return `nobody;${payload}`;
      case 'pattern': return `bad;${payload}`;
    }
  })();
  if (first !== undefined && checkValue(kind, first) !== undefined) return first;
  return `bad\n${payload}`;
}

/**
 * Problems of a kind declaration itself (an empty enum, min above max, a pattern that is not a
 * valid regular expression...), for `validate`.
 */
export function kindProblems(k: SettingKind | undefined): string[] {
  if (k === undefined) return [];
  if (!k || typeof k !== 'object' || !(KIND_NAMES as readonly string[]).includes((k as SettingKind).kind)) return [`kind must be one of ${KIND_NAMES.join(', ')}`];
  const out: string[] = [];
  if (k.kind === 'integer') {
    for (const b of ['min', 'max'] as const) if (k[b] !== undefined && !Number.isSafeInteger(k[b])) out.push(`${b} must be an integer`);
    if (k.min !== undefined && k.max !== undefined && k.min > k.max) out.push('min is above max');
  }
  if (k.kind === 'enum') {
    if (!Array.isArray(k.values) || !k.values.length) out.push('values must list at least one value');
    else if (k.values.some((v) => typeof v !== 'string' || !/^[A-Za-z0-9_.:+-]+$/.test(v))) out.push('values must be words (letters, digits, _ . : + -)');
  }
  if (k.kind === 'pattern') {
    try {
      new RegExp(k.pattern);
    } catch (e) {
      out.push(`pattern is not a regular expression: ${(e as Error).message}`);
    }
    if (/[\t\n]|\\[dwsDWSbB]|\(\?/.test(k.pattern)) out.push('pattern must be a POSIX ERE (no \\d, \\w, \\s, \\b, (?...) or tabs): the guest checks it with grep -E');
    if (!k.hint) out.push('hint is required (what the rule means, shown to users)');
    // grep -E expands a bounded repetition into as many states: {1,4000} took seconds per check
    // in the guest (unbound's health timed out while the settings were being checked).
    if (/\{[0-9]*,?[0-9]{4,}\}/.test(k.pattern)) out.push('pattern has a repetition bound of 1000 or more, slow in grep -E: use + (and kinds.string({ maxLength }) for a length)');
  }
  if (k.kind === 'string' && k.maxLength !== undefined && !(Number.isSafeInteger(k.maxLength) && k.maxLength > 0)) out.push('maxLength must be a positive integer');
  return out;
}

/** The shell variables the guest check reads for one kind (prefix `S_<ENV>_`). */
export function kindShellVars(k: SettingKind): Record<string, string> {
  const vars: Record<string, string> = { kind: k.kind, rule: describeKind(k) };
  if (k.kind === 'string' && k.maxLength !== undefined) vars.maxlen = String(k.maxLength);
  if (k.kind === 'integer') {
    if (k.min !== undefined) vars.min = String(k.min);
    if (k.max !== undefined) vars.max = String(k.max);
  }
  if (k.kind === 'enum') vars.values = k.values.join(' ');
  if (k.kind === 'pattern') vars.pattern = k.pattern;
  if (k.kind === 'size') vars.pattern = GUEST_PATTERNS.size;
  if (k.kind === 'duration') vars.pattern = GUEST_PATTERNS.duration;
  if (k.kind === 'hostnames') vars.pattern = GUEST_PATTERNS.hostname;
  if (k.kind === 'cidrs') vars.pattern = GUEST_PATTERNS.cidr;
  if (k.kind === 'hostports') vars.pattern = GUEST_PATTERNS.hostport;
  if (k.kind === 'email') vars.pattern = GUEST_PATTERNS.email;
  return vars;
}

/** Shorthands for declaring kinds: `type: kinds.integer({ min: 1, max: 65535 })`. */
export const kinds = {
  /** Any single line; `maxLength` in bytes. */
  string: (o: { maxLength?: number } = {}): StringKind => ({ kind: 'string', ...o }),
  /** A decimal integer within `[min, max]`. */
  integer: (o: { min?: number; max?: number } = {}): IntegerKind => ({ kind: 'integer', ...o }),
  /** `true` or `false`. */
  boolean: (): BooleanKind => ({ kind: 'boolean' }),
  /** One of `values`. */
  enum: (values: readonly string[]): EnumKind => ({ kind: 'enum', values }),
  /** The whole value matches the ERE `pattern`; `hint` says the rule in words. */
  pattern: (pattern: string, hint: string): PatternKind => ({ kind: 'pattern', pattern, hint }),
  /** A size such as 256mb. */
  size: (): SizeKind => ({ kind: 'size' }),
  /** A duration such as 30s or 15d. */
  duration: (): DurationKind => ({ kind: 'duration' }),
  /** PEM text. */
  pem: (): PemKind => ({ kind: 'pem' }),
  /** Comma-separated host names. */
  hostnames: (): HostnamesKind => ({ kind: 'hostnames' }),
  /** IP addresses or CIDR ranges separated by spaces or commas (allow lists). */
  cidrs: (): CidrsKind => ({ kind: 'cidrs' }),
  /** host:port pairs separated by spaces or commas, IPv6 as [address]:port. */
  hostports: (): HostPortsKind => ({ kind: 'hostports' }),
  /** One e-mail address. */
  email: (): EmailKind => ({ kind: 'email' }),
} as const;

/** `NAME='value'` for the generated shell data file (values quoted by the one helper). */
export function shellAssign(name: string, value: string): string {
  return `${name}=${shellQuote(value)}`;
}
