/**
 * The command line: `build.ts [verb] [targets...] [options]`. Parses arguments, dispatches to a
 * verb module (lib/verbs/*), and turns user errors into a message and exit code 1, never a
 * stack trace.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, formatDiagnostic, sortDiagnostics } from './diagnostics.ts';
import { discoverAppliances } from './compile/load.ts';
import { opt, parseOptions, type OptionTable, type OptionValues } from './options.ts';

export { opt, OptionError, type Option, type OptionTable } from './options.ts';

/** What a verb receives. */
export interface VerbContext<O extends OptionTable = OptionTable> {
  /** Project root (where build.ts lives). */
  root: string;
  /** The appliances folder. */
  appliancesDir: string;
  /** Positional arguments after the verb. */
  args: string[];
  /** The verb's options and the global ones, parsed and checked (lib/options.ts). */
  options: OptionValues<O & typeof GLOBAL_OPTIONS>;
  /** Process environment. */
  env: NodeJS.ProcessEnv;
  /** Output streams (injectable for tests). */
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /**
   * The verb's interruption signal: aborted on the first SIGINT or SIGTERM (the verb stops its
   * work and cleans up); a second one exits at once with 130. The handlers are installed on the
   * first call and removed when the verb returns: only this module handles process signals.
   */
  interrupt: () => AbortSignal;
}

/** A verb of build.ts. Declare one with {@link defineVerb} so its options are typed. */
export interface Verb<O extends OptionTable = OptionTable> {
  name: string;
  /** One line for `help`. */
  summary: string;
  /** Usage line after `npx tsx build.ts`. */
  usage: string;
  /**
   * How many positional arguments the verb takes (default: any number). Checked before the
   * verb runs, so a verb never ignores an argument (`clean-all tiny` must not clean it all).
   */
  args?: { min?: number; max?: number };
  /** Verb-specific options: `opt.*` entries (lib/options.ts), parsed and checked before `run`. */
  options?: O;
  /** Example command lines. */
  examples?: string[];
  /** Runs the verb; resolves to the exit code. */
  run(ctx: VerbContext<O>): Promise<number>;
}

/** Declares a verb: `ctx.options` in `run` is typed from the option table. */
export function defineVerb<const O extends OptionTable = Record<never, never>>(verb: Verb<O>): Verb {
  return verb as unknown as Verb;
}

/** A verb in the table: its name, and how to import it (only when it runs). */
export interface VerbEntry {
  name: string;
  load: () => Promise<Verb>;
}

/** Why a mirror option is not a URL (it goes into the compiled YAML, and would fail only deep in a build). */
function mirrorProblem(v: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(v) && URL.canParse(v) ? undefined : `expected a URL such as http://mirror.example/debian, got "${v}"`;
}

/** Options every verb accepts. */
export const GLOBAL_OPTIONS = {
  help: opt.boolean({ short: 'h', description: 'show help for the verb' }),
  'debian-mirror': opt.string({ value: 'URL', check: mirrorProblem, description: 'Debian mirror for Debian bases (default: APPLIANCE_DEBIAN_MIRROR, else the host apt configuration)' }),
  'alpine-mirror': opt.string({ value: 'URL', check: mirrorProblem, description: 'Alpine mirror for Alpine bases (default: APPLIANCE_ALPINE_MIRROR, else /etc/apk/repositories)' }),
};

/** The project root: the folder holding build.ts. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs the CLI with `argv` (without node and script). Returns the exit code.
 * @param verbs the verb table (from lib/verbs/index.ts)
 */
export async function main(argv: string[], verbs: VerbEntry[], io: Partial<Pick<VerbContext, 'stdout' | 'stderr' | 'env'>> & { root?: string } = {}): Promise<number> {
  const stdout = io.stdout ?? ((t: string) => void process.stdout.write(t));
  const stderr = io.stderr ?? ((t: string) => void process.stderr.write(t));
  const env = io.env ?? process.env;
  const root = io.root ?? PROJECT_ROOT;
  const byName = new Map(verbs.map((v) => [v.name, v]));
  const verbList = [...byName.keys()].join(', ');
  let entry = byName.get('build');
  let rest = argv;
  const first = argv[0];
  if (first && !first.startsWith('-') && byName.has(first)) {
    entry = byName.get(first)!;
    rest = argv.slice(1);
  } else if (first && !first.startsWith('-') && !first.includes(':')) {
    // Not a verb: it must be an appliance name for the default verb (build).
    let appliances: string[] = [];
    try {
      appliances = discoverAppliances(join(root, 'appliances'));
    } catch {
      /* reported below as unknown */
    }
    if (!appliances.includes(first)) {
      stderr(`error: "${first}" is neither a verb nor an appliance\n  verbs: ${verbList}\n  appliances: ${appliances.join(', ') || '(none)'}\nRun \`npx tsx build.ts help\` for usage.\n`);
      return 1;
    }
  }
  if (!entry) {
    stderr(`error: the build verb is not available; verbs: ${verbList}\n`);
    return 1;
  }
  const verb = await entry.load();
  const specs: OptionTable = { ...GLOBAL_OPTIONS, ...(verb.options ?? {}) };
  const config: ParseArgsConfig = {
    args: rest,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) }])),
  };
  let parsed;
  try {
    parsed = parseArgs(config);
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    stderr(`error: ${verb.name}: ${msg}\nRun \`npx tsx build.ts help ${verb.name}\` for its options.\n`);
    return 1;
  }
  const ctx: VerbContext = {
    root,
    appliancesDir: join(root, 'appliances'),
    args: parsed.positionals,
    options: {} as VerbContext['options'],
    env,
    stdout,
    stderr,
    interrupt: () => new AbortController().signal,
  };
  if (parsed.values.help) return (await byName.get('help')!.load()).run({ ...ctx, args: [verb.name] });
  try {
    ctx.options = parseOptions(specs, parsed.values) as VerbContext['options'];
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    stderr(`error: ${verb.name}: ${e.message}\nRun \`npx tsx build.ts help ${verb.name}\` for its options.\n`);
    return 1;
  }
  const argProblem = checkArgCount(verb, ctx.args);
  if (argProblem) {
    stderr(`error: ${verb.name}: ${argProblem}\n  usage: npx tsx build.ts ${verb.usage}\n`);
    return 1;
  }
  const signals = new InterruptHandlers(stderr);
  ctx.interrupt = () => signals.signal();
  try {
    return await verb.run(ctx);
  } catch (e) {
    return reportError(e, root, stderr);
  } finally {
    signals.remove();
  }
}

/**
 * System error codes that say something about the machine, not about this program: a full disk,
 * a read-only or forbidden folder. Shown as a message; any other error is a bug and keeps its stack.
 */
const ENVIRONMENT_CODES = new Set(['EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'EROFS', 'EMFILE', 'ENFILE']);

/**
 * The one place expected failures become messages: a {@link UserError} (any subclass: options,
 * registry, keys, lock, compile...) prints its diagnostics and message and gives exit 1, as does
 * an environment error ({@link ENVIRONMENT_CODES}). Anything else is rethrown: build.ts prints it
 * as `internal error` with its stack.
 */
export function reportError(e: unknown, root: string, stderr: (text: string) => void): number {
  if (e instanceof UserError) {
    for (const d of sortDiagnostics(e.diagnostics)) stderr(formatDiagnostic(d, root) + '\n');
    stderr(`error: ${e.message}\n`);
    return 1;
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && code && ENVIRONMENT_CODES.has(code)) {
    stderr(`error: ${e.message}\n`);
    return 1;
  }
  throw e;
}

/** Why `args` do not fit the verb's positional arguments, or undefined. */
export function checkArgCount(verb: Pick<Verb, 'args'>, args: string[]): string | undefined {
  const { min = 0, max = Infinity } = verb.args ?? {};
  const got = args.map((a) => JSON.stringify(a)).join(' ');
  if (args.length > max) return max === 0 ? `takes no arguments (got ${got})` : `takes at most ${max} argument${max > 1 ? 's' : ''} (got ${args.length}: ${got})`;
  if (args.length < min) return `needs ${min === 1 && max === 1 ? 'one argument' : `at least ${min} argument${min > 1 ? 's' : ''}`}`;
  return undefined;
}

/** SIGINT/SIGTERM handlers behind {@link VerbContext.interrupt}. */
class InterruptHandlers {
  private controller?: AbortController;
  private readonly on = () => {
    if (this.controller!.signal.aborted) process.exit(130);
    this.stderr('interrupted: stopping (press Ctrl-C again to quit at once)\n');
    this.controller!.abort();
  };
  constructor(private stderr: (text: string) => void) {}
  signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      process.on('SIGINT', this.on);
      process.on('SIGTERM', this.on);
    }
    return this.controller.signal;
  }
  remove(): void {
    process.off('SIGINT', this.on);
    process.off('SIGTERM', this.on);
  }
}
