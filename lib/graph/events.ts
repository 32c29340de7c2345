/**
 * Build events and the loggers that print them. The runner emits one tagged {@link RunEvent}
 * union; a logger decides how it looks: {@link PlainLogger} writes one line per event (CI,
 * `--plain`, pipes), {@link LiveLogger} redraws a line per running target on a terminal.
 * @module
 */
import { formatBytes, formatDuration } from '../format.ts';

/** Everything the build stage reports. */
export type RunEvent =
  | { type: 'stale'; target: string; reasons: string[]; layers?: string[] }
  | { type: 'fresh'; target: string }
  | { type: 'start'; target: string }
  | { type: 'stage'; target: string; stage: string }
  | { type: 'built'; target: string; ms: number; rootfsBytes?: number }
  /** Installed from the remote cache (verified) instead of built. */
  | { type: 'cached'; target: string; ms: number; bytes: number }
  | { type: 'failed'; target: string; ms: number; message: string; log?: string; tail?: string[] }
  | { type: 'skipped'; target: string; reason: string }
  | { type: 'error'; target: string; message: string }
  | { type: 'dead'; target: string; reason: string; removed: string[] }
  | { type: 'waiting'; message: string }
  | { type: 'warning'; message: string }
  | { type: 'info'; message: string }
  /** Planning decisions, printed when APPLIANCE_BUILD_DEBUG is set. */
  | { type: 'debug'; message: string }
  | { type: 'summary'; built: number; fresh: number; failed: number; skipped: number; ms: number; cached?: number };

/** Consumes events. */
export interface Logger {
  event(e: RunEvent): void;
  /** Stops any redraw timer; called once at the end. */
  close(): void;
}

/** Output sinks of a logger. */
export interface Sinks {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Formats an event as plain lines (no trailing newline), or undefined when it prints nothing. */
export function formatEvent(e: RunEvent): string | undefined {
  switch (e.type) {
    case 'stale': return `${e.target}: stale (${e.reasons.join('; ')})${e.layers ? `: rebuilds ${e.layers.join(' + ')}` : ''}`;
    case 'fresh': return `${e.target}: fresh`;
    case 'start': return `${e.target}: building`;
    case 'stage': return `${e.target}: ${e.stage}`;
    case 'cached': return `${e.target}: from cache in ${formatDuration(e.ms)} (${formatBytes(e.bytes)})`;
    case 'built': return `${e.target}: built in ${formatDuration(e.ms)}${e.rootfsBytes !== undefined ? ` (rootfs ${formatBytes(e.rootfsBytes)})` : ''}`;
    case 'failed': {
      const lines = [`${e.target}: FAILED after ${formatDuration(e.ms)}: ${e.message}`];
      if (e.tail?.length) lines.push(`  last lines of the log:`, ...e.tail.map((l) => `  | ${l}`));
      if (e.log) lines.push(`  full log: ${e.log}`);
      return lines.join('\n');
    }
    case 'skipped': return `${e.target}: skipped (${e.reason})`;
    case 'error': return `${e.target}: error: ${e.message}`;
    case 'dead': return `${e.target}: no longer exists (${e.reason})${e.removed.length ? `; removed ${e.removed.join(', ')}` : ''}`;
    case 'waiting': return e.message;
    case 'warning': return `warning: ${e.message}`;
    case 'info': return e.message;
    case 'debug': return `debug: ${e.message}`;
    case 'summary': return `built ${e.built}, fresh ${e.fresh}, failed ${e.failed}${e.skipped ? `, skipped ${e.skipped}` : ''} in ${formatDuration(e.ms)}${e.cached ? `; ${e.cached} from cache` : ''}`;
  }
}

/** Elapsed time of a running build: `7s`, `1:05`, `1:02:05`. */
function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  return s < 3600 ? `${Math.floor(s / 60)}:${two(s % 60)}` : `${Math.floor(s / 3600)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

const toErr = new Set<RunEvent['type']>(['failed', 'error', 'warning', 'waiting', 'debug']);

/** One line per event: for CI, `--plain` and pipes. */
export class PlainLogger implements Logger {
  constructor(private sinks: Sinks, private opts: { stages?: boolean } = {}) {}
  event(e: RunEvent): void {
    if (e.type === 'stage' && this.opts.stages === false) return;
    const text = formatEvent(e);
    if (text !== undefined) (toErr.has(e.type) ? this.sinks.err : this.sinks.out)(text + '\n');
  }
  close(): void {}
}

/** Discards everything but warnings and errors (used with `--json`, where stdout is JSON only). */
export class QuietLogger implements Logger {
  constructor(private sinks: Sinks) {}
  event(e: RunEvent): void {
    if (toErr.has(e.type)) this.sinks.err(formatEvent(e)! + '\n');
  }
  close(): void {}
}

/**
 * On a terminal: finished events scroll as lines; below them one live line per running target
 * (`⠹ nginx:amd64  installing packages  1m12s`) is redrawn in place.
 */
export class LiveLogger implements Logger {
  private running = new Map<string, { stage: string; since: number }>();
  private drawn = 0;
  private timer: NodeJS.Timeout;
  private frame = 0;
  constructor(private write: (text: string) => void, private width = () => process.stdout.columns || 100) {
    this.timer = setInterval(() => this.redraw(), 200);
    this.timer.unref();
  }
  private clear(): string {
    if (!this.drawn) return '';
    const s = `\x1b[${this.drawn}A\x1b[0J`;
    this.drawn = 0;
    return s;
  }
  private live(): string {
    const spin = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[this.frame++ % 10];
    const lines = [...this.running].map(([t, r]) => {
      const line = `${spin} ${t}  ${clock(Date.now() - r.since).padStart(6)}  ${r.stage}`;
      return line.length > this.width() - 1 ? line.slice(0, this.width() - 2) + '…' : line;
    });
    this.drawn = lines.length;
    return lines.map((l) => l + '\n').join('');
  }
  private redraw(): void {
    if (this.running.size || this.drawn) this.write(this.clear() + this.live());
  }
  event(e: RunEvent): void {
    if (e.type === 'start') this.running.set(e.target, { stage: 'starting', since: Date.now() });
    if (e.type === 'stage') {
      const r = this.running.get(e.target);
      if (r) r.stage = e.stage;
      return this.redraw();
    }
    if (e.type === 'built' || e.type === 'failed' || e.type === 'cached') this.running.delete(e.target);
    if (e.type === 'start') return this.redraw();
    const text = formatEvent(e);
    this.write(this.clear() + (text !== undefined ? text + '\n' : '') + this.live());
  }
  close(): void {
    clearInterval(this.timer);
    this.write(this.clear());
  }
}
