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
import { discoverAppliances } from './load.ts';

/** One option of a verb, in node:util parseArgs form plus help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown by `help`; mention the default. */
  description: string;
  /** Placeholder in help, e.g. `N` or `DIR`. */
  value?: string;
}

/** What a verb receives. */
export interface VerbContext {
  /** Project root (where build.ts lives). */
  root: string;
  /** The appliances folder. */
  appliancesDir: string;
  /** Positional arguments after the verb. */
  args: string[];
  /** Parsed options. */
  options: Record<string, string | boolean | string[] | undefined>;
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

/** A verb of build.ts. */
export interface Verb {
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
  /** Verb-specific options. */
  options?: Record<string, OptionSpec>;
  /** Example command lines. */
  examples?: string[];
  /** Runs the verb; resolves to the exit code. */
  run(ctx: VerbContext): Promise<number>;
}

/** A verb in the table: its name, and how to import it (only when it runs). */
export interface VerbEntry {
  name: string;
  load: () => Promise<Verb>;
}

/** Options every verb accepts. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show help for the verb' },
  'debian-mirror': { type: 'string', value: 'URL', description: 'Debian mirror for Debian bases (default: APPLIANCE_DEBIAN_MIRROR, else the host apt configuration)' },
  'alpine-mirror': { type: 'string', value: 'URL', description: 'Alpine mirror for Alpine bases (default: APPLIANCE_ALPINE_MIRROR, else /etc/apk/repositories)' },
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
  const specs = { ...GLOBAL_OPTIONS, ...(verb.options ?? {}) };
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
    options: parsed.values as VerbContext['options'],
    env,
    stdout,
    stderr,
    interrupt: () => new AbortController().signal,
  };
  if (ctx.options.help) return (await byName.get('help')!.load()).run({ ...ctx, args: [verb.name] });
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
    if (e instanceof UserError) {
      for (const d of sortDiagnostics(e.diagnostics)) stderr(formatDiagnostic(d, root) + '\n');
      stderr(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    signals.remove();
  }
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
