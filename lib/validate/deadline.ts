/**
 * A time limit on importing appliance modules. An appliance module is user code run at import:
 * an endless loop in it would hang every verb. Two cases:
 *
 * - the import never settles but the thread is free (a top-level `await` on something that
 *   never resolves): a timer rejects the wait ({@link withDeadline});
 * - the thread is stuck (`while (true) {}`): no timer of ours can run, so a watchdog thread
 *   (started on the first import, never on the build's no-op path, which imports nothing)
 *   reports the module, stops the main thread's JavaScript through the inspector and makes the
 *   process exit 1; if the process does not exit within 2 s it is killed.
 * @module
 */
import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Default limit, in seconds; `APPLIANCE_IMPORT_TIMEOUT` overrides it (tests use 1). */
export const DEFAULT_IMPORT_TIMEOUT_S = 10;

/** The import limit in ms from the environment. */
export function importTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.APPLIANCE_IMPORT_TIMEOUT);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_IMPORT_TIMEOUT_S) * 1000;
}

/** Message for an import that did not finish in time. */
export function timeoutMessage(ms: number): string {
  return `import did not finish within ${ms / 1000} s (an endless loop or a wait at the top level of the module?)`;
}

// The watchdog runs plain JavaScript (no tsx in a worker started with `eval`). It keeps a timer
// per armed import. A fired timer records which import hung (id + 1 in the shared flag) and
// terminates the main thread's current JavaScript: the main thread then either reports the
// time-out itself (its own timer was due) or drains and exits, and the exit handler reports
// it. Should the process still be alive 2 s later, the watchdog prints and kills it.
const WATCHDOG = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const timers = new Map();
parentPort.on('message', (m) => {
  if (m.done !== undefined) { clearTimeout(timers.get(m.done)); timers.delete(m.done); return; }
  timers.set(m.id, setTimeout(() => {
    Atomics.store(workerData, 0, m.id + 1);
    try {
      const inspector = require('node:inspector');
      const s = new inspector.Session();
      s.connectToMainThread();
      s.post('Runtime.terminateExecution', () => s.disconnect());
    } catch {}
    setTimeout(() => {
      fs.writeSync(2, m.text + '\\nerror: ' + m.label + ': appliance import timed out\\n');
      process.kill(process.pid, 'SIGKILL');
    }, 2000);
  }, m.ms));
});
`;

let watchdog: { worker: Worker; flag: Int32Array } | undefined;
let nextId = 0;
/** Armed imports, by id: the message the exit handler prints if the watchdog stopped one. */
const armed = new Map<number, { text: string; label: string; reported: boolean }>();

function startWatchdog(): NonNullable<typeof watchdog> {
  if (watchdog) return watchdog;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WATCHDOG, { eval: true, workerData: flag });
  worker.unref();
  // After the watchdog stopped the main thread, the event loop may just drain: say why, exit 1.
  process.on('exit', () => {
    const hung = Atomics.load(flag, 0);
    if (!hung) return;
    const a = armed.get(hung - 1);
    if (a && !a.reported) writeSync(2, `${a.text}\nerror: ${a.label}: appliance import timed out\n`);
    process.exitCode = 1;
  });
  watchdog = { worker, flag };
  return watchdog;
}

/**
 * Runs `importIt` under the limit. Rejects with a {@link ImportTimeout} when it does not settle
 * in time; a stuck thread is handled by the watchdog (the process exits 1 with `text` printed).
 * @param text the located message the watchdog prints, e.g. `appliances/x/appliance.ts: import ...`
 * @param label what timed out, for the closing `error:` line
 */
export async function withDeadline<T>(importIt: () => Promise<T>, ms: number, text: string, label: string): Promise<T> {
  // One import at a time: a module stuck in a loop blocks the thread, and every import running
  // beside it would time out too and be blamed for it.
  const before = queue;
  let release!: () => void;
  queue = new Promise<void>((r) => (release = r));
  await before;
  try {
    return await guarded(importIt, ms, text, label);
  } finally {
    release();
  }
}

let queue: Promise<void> = Promise.resolve();

async function guarded<T>(importIt: () => Promise<T>, ms: number, text: string, label: string): Promise<T> {
  const w = startWatchdog();
  const id = nextId++;
  const entry = { text, label, reported: false };
  armed.set(id, entry);
  // A little later than our own timer: a free thread reports through the normal path.
  w.worker.postMessage({ id, ms: ms + 500, text, label });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      importIt(),
      new Promise<never>((_, reject) => {
        // Kept referenced: a module awaiting a promise nothing settles must not let the
        // process exit quietly before the limit.
        timer = setTimeout(() => {
          entry.reported = true;
          reject(new ImportTimeout(ms));
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (!entry.reported) armed.delete(id);
    w.worker.postMessage({ done: id });
  }
}

/**
 * True when an import timed out in this process. The module may have left timers or sockets
 * behind that keep the event loop alive: the CLI then exits explicitly (see build.ts).
 */
export function importsTimedOut(): boolean {
  return [...armed.values()].some((a) => a.reported);
}

/** An import that did not settle within the limit. */
export class ImportTimeout extends Error {
  constructor(readonly ms: number) {
    super(timeoutMessage(ms));
    this.name = 'ImportTimeout';
  }
}
