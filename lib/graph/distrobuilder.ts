/**
 * One distrobuilder run of one node: its full output into the node's log, the stages it
 * announces as events, stopped by the run's AbortSignal. Shared by every node kind (base and
 * packages trees: `build-dir`; images: `pack-incus`).
 * @module
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, writeFileSync, type WriteStream } from 'node:fs';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { privilegePrefix } from '../validate/distrobuilder.ts';
import type { RunEvent } from './events.ts';
import { safeRemove } from './fsutil.ts';
import { formatDuration } from '../format.ts';

/** The per-node log: every line goes to the file; the last few are kept for a failure message. */
export class NodeLog {
  private stream: WriteStream;
  private tail: string[] = [];
  constructor(readonly file: string, private keep = 20) {
    this.stream = createWriteStream(file, { flags: 'w' });
  }
  /** Appends one line. */
  note(line: string): void {
    this.stream.write(line + '\n');
    this.tail.push(line);
    if (this.tail.length > this.keep) this.tail.shift();
  }
  /** The last lines written (comment lines of our own left out). */
  last(): string[] {
    return this.tail.filter((l) => !l.startsWith('# FAILED'));
  }
  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((r) => this.stream.end(() => r()));
  }
}

/**
 * The stage a distrobuilder log line announces, if any: `level=info msg="Managing packages"`,
 * `msg="Running hooks" trigger=post-files` -> `Running hooks (post-files)`; the generator lines
 * (one per file) collapse into `Running generators`.
 */
export function stageOf(line: string): string | undefined {
  const m = /level=info msg="((?:[^"\\]|\\.)*)"(.*)$/.exec(line);
  if (!m) return undefined;
  const msg = m[1];
  if (msg === 'Running generator') return 'Running generators';
  const trigger = /trigger=(\S+)/.exec(m[2]);
  if (trigger) return `${msg} (${trigger[1]})`;
  return msg;
}

/**
 * Ends one node build: the closing line in its log, the log flushed, its scratch folder removed
 * (a folder that cannot be removed is a warning, never a failure). Returns the elapsed ms.
 */
export async function closeRun(log: NodeLog, tmp: string, started: number, root: string, emit: (e: RunEvent) => void, failure?: string): Promise<number> {
  const ms = Date.now() - started;
  log.note(failure ? `# FAILED after ${formatDuration(ms)}: ${failure}` : `# built in ${formatDuration(ms)}`);
  await log.close();
  const removed = safeRemove(tmp);
  if (!removed.removed) emit({ type: 'warning', message: `${relative(root, tmp)}: ${removed.problem}` });
  return ms;
}

/** One distrobuilder invocation. */
export interface DistrobuilderRun {
  /** The distrobuilder executable (absolute path). */
  exe: string;
  /** Arguments after the global `--cache-dir`: subcommand, files, flags. */
  args: string[];
  /** Scratch folder of this run (its `--cache-dir` is `work/` inside; the pid file goes here). */
  tmp: string;
  /** Node or target name the events are about. */
  target: string;
  /** Prefix of stage events (e.g. `packages layer: `). */
  stagePrefix?: string;
  log: NodeLog;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  emit: (e: RunEvent) => void;
  /**
   * Output folder to hand back to us when distrobuilder ran as root through sudo (image files;
   * never a root tree, whose owners are part of the image).
   */
  handBack?: string;
  /**
   * Command prefix that runs distrobuilder elsewhere instead of on this host (e.g. `incus exec
   * NAME --cwd DIR --`); `exe` is then the executable's name there.
   */
  wrap?: string[];
}

/** How a run ended: undefined when it succeeded, else why it failed. */
export async function runDistrobuilder(r: DistrobuilderRun): Promise<string | undefined> {
  const [cmd, ...pre] = [...(r.wrap ?? privilegePrefix()), r.exe];
  // Every concurrent run needs its own --cache-dir: distrobuilder wipes it at start and end.
  const args = [...pre, '--cache-dir', join(r.tmp, 'work'), ...r.args];
  r.log.note(`$ ${[cmd, ...args].join(' ')}`);
  const child = execa(cmd, args, {
    cwd: r.tmp,
    env: r.env,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    cancelSignal: r.signal,
    forceKillAfterDelay: 10_000,
  });
  // Lets the next run stop this process if we die without stopping it (kill -9).
  if (child.pid) writeFileSync(join(r.tmp, 'pid'), String(child.pid));
  r.emit({ type: 'stage', target: r.target, stage: `${r.stagePrefix ?? ''}starting distrobuilder` });
  const lines = createInterface({ input: child.all! });
  let stage = '';
  lines.on('line', (line) => {
    r.log.note(line);
    const s = stageOf(line);
    if (s && s !== stage) r.emit({ type: 'stage', target: r.target, stage: `${r.stagePrefix ?? ''}${(stage = s)}` });
  });
  const res = await child;
  await new Promise<void>((done) => (lines as unknown as { closed?: boolean }).closed ? done() : lines.once('close', () => done()));
  if (r.signal.aborted || res.isCanceled) return 'interrupted';
  if (res.exitCode !== 0) return res.signal ? `distrobuilder was killed by ${res.signal}` : `distrobuilder exited with code ${res.exitCode}`;
  // distrobuilder ran as root through sudo: hand the output files back to us.
  if (cmd === 'sudo' && r.handBack) spawnSync('sudo', ['-n', 'chown', '-R', `${process.getuid?.()}:${process.getgid?.()}`, r.handBack], { stdio: 'ignore' });
  return undefined;
}
