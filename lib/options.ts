/**
 * Command-line options as a typed table: each entry says how its value is parsed and checked
 * (once, before the verb runs), and the verb receives a typed object. A bad value is an
 * {@link OptionError} naming the option (`--jobs: expected a whole number from 1 to 64, got "abc"`),
 * never a NaN deep in the verb.
 *
 * ```ts
 * export const pruneVerb = defineVerb({
 *   name: 'prune', summary: '...', usage: 'prune [--keep N]',
 *   options: { keep: opt.integer({ value: 'N', min: 1, default: 3, description: 'versions kept' }) },
 *   async run(ctx) { ctx.options.keep; },   // number
 * });
 * ```
 * @module
 */
import { resolve } from 'node:path';
import { UserError } from './diagnostics.ts';
import { parseDuration } from './format.ts';

/** A bad option value: printed as `--name: ...`, exit 1. */
export class OptionError extends UserError {
  constructor(readonly option: string, problem: string) {
    super(`--${option}: ${problem}`);
    this.name = 'OptionError';
  }
}

/** What parseArgs yields for one option. */
type Raw = string | boolean | Array<string | boolean> | undefined;

/** One option of a verb: how node:util parseArgs reads it, its help, and its parser. */
export interface Option<T> {
  /** parseArgs' type. */
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown by `help`; mention the default. */
  description: string;
  /** Placeholder in help, e.g. `N` or `DIR`. */
  value?: string;
  /**
   * Turns the raw value (undefined when absent) into the typed one.
   * @throws OptionError naming the option when the value is not acceptable
   */
  parse(raw: Raw, name: string): T;
}

/** A verb's option table. */
export type OptionTable = Record<string, Option<unknown>>;

/** The typed values of an option table. */
export type OptionValues<O extends OptionTable> = { [K in keyof O]: O[K] extends Option<infer T> ? T : never };

interface Common {
  short?: string;
  description: string;
  value?: string;
}

/** A single string value (parseArgs gives the last one when repeated). */
function single(raw: Raw): string | undefined {
  const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  return typeof last === 'string' ? last : undefined;
}

function stringOption<T>(c: Common, parse: (text: string, name: string) => T, fallback: T): Option<T> {
  return {
    type: 'string',
    ...c,
    parse(raw, name) {
      const text = single(raw);
      return text === undefined ? fallback : parse(text, name);
    },
  };
}

function integer(c: Common & { min?: number; max?: number; default: number }): Option<number>;
function integer(c: Common & { min?: number; max?: number }): Option<number | undefined>;
function integer(c: Common & { min?: number; max?: number; default?: number }): Option<number | undefined> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = c;
  const range = max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : min < 0 ? '' : ` from ${min} to ${max}`;
  return stringOption(c, (text, name) => {
    const n = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new OptionError(name, `expected an integer${range}, got "${text}"`);
    return n;
  }, c.default);
}

function duration(c: Common & { default: number }): Option<number>;
function duration(c: Common): Option<number | undefined>;
function duration(c: Common & { default?: number }): Option<number | undefined> {
  return stringOption(c, (text, name) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms <= 0) throw new OptionError(name, `expected a duration such as 90s, 12h, 7d or 2w, got "${text}"`);
    return ms;
  }, c.default);
}

function string(c: Common & { default: string; check?: (v: string) => string | undefined }): Option<string>;
function string(c: Common & { check?: (v: string) => string | undefined }): Option<string | undefined>;
function string(c: Common & { default?: string; check?: (v: string) => string | undefined }): Option<string | undefined> {
  return stringOption(c, (text, name) => {
    const problem = text === '' ? 'expected a value, got an empty string' : c.check?.(text);
    if (problem) throw new OptionError(name, problem);
    return text;
  }, c.default);
}

function choice<const C extends string>(choices: readonly C[], c: Common & { default: NoInfer<C> }): Option<C>;
function choice<const C extends string>(choices: readonly C[], c: Common): Option<C | undefined>;
function choice<const C extends string>(choices: readonly C[], c: Common & { default?: C }): Option<C | undefined> {
  return stringOption<C | undefined>(c, (text, name) => {
    if (!(choices as readonly string[]).includes(text)) throw new OptionError(name, `expected one of ${choices.join(', ')}, got "${text}"`);
    return text as C;
  }, c.default);
}

/** The option table's entries. Each parses and checks its value once. */
export const opt = {
  /** A flag: true when given. */
  boolean(c: Common): Option<boolean> {
    return { type: 'boolean', ...c, parse: (raw) => raw === true };
  },
  /** A non-empty string; `check` returns why a value is refused. */
  string,
  /** A whole number in [min, max] (min defaults to 0). */
  integer,
  /** A duration (`90s`, `12h`, `7d`, `2w`), in milliseconds. */
  duration,
  /** A file or folder path, resolved against the working directory. */
  path(c: Common): Option<string | undefined> {
    return stringOption(c, (text, name) => {
      if (text === '') throw new OptionError(name, 'expected a path, got an empty string');
      return resolve(text);
    }, undefined);
  },
  /** One of a fixed set of words (`choice(['split', 'unified'], {...})`). */
  choice,
  /** A repeatable string (`--package a --package b`): every value, in order; empty when absent. */
  list(c: Common & { check?: (v: string) => string | undefined }): Option<string[]> {
    return {
      type: 'string',
      multiple: true,
      ...c,
      parse(raw, name) {
        const values = ([] as Array<string | boolean>).concat(raw ?? []).map(String);
        for (const v of values) {
          const problem = v === '' ? 'expected a value, got an empty string' : c.check?.(v);
          if (problem) throw new OptionError(name, problem);
        }
        return values;
      },
    };
  },
};

/**
 * Parses every option of `table` from parseArgs' values.
 * @throws OptionError for the first bad value
 */
export function parseOptions<O extends OptionTable>(table: O, raw: Record<string, Raw>): OptionValues<O> {
  const out: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(table)) out[name] = o.parse(raw[name], name);
  return out as OptionValues<O>;
}
