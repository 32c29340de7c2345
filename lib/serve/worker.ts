/**
 * One server process of a cluster (see cluster.ts): starts the server from the configuration in
 * the environment, reports its port, writes access-log lines on stdout, and on `shutdown` from
 * the primary (or SIGTERM) finishes in-flight requests and exits 0.
 * @module
 */
import { WORKER_CONFIG_ENV, type WorkerConfig, type WorkerMessage } from './cluster.ts';
import { startServer } from './server.ts';

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? 'null') as WorkerConfig | null;
const send = (m: WorkerMessage) => process.send?.(m);

if (!config) {
  process.stderr.write(`${WORKER_CONFIG_ENV} is not set: this file is started by lib/serve/cluster.ts\n`);
  process.exit(2);
}

try {
  const srv = await startServer({ ...config, log: (line) => void process.stdout.write(line + '\n') });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await srv.close();
    process.exit(0);
  };
  process.on('message', (m: WorkerMessage) => { if (m?.type === 'shutdown') void stop(); });
  // Ctrl-C reaches the whole process group: the primary orchestrates the stop (a worker that
  // left on its own would be replaced), so a worker ignores SIGINT. SIGTERM aimed at one worker
  // stops it gracefully (the primary then starts another).
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', port: srv.port });
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  send({ type: 'error', code: err.code, message: err.message });
  process.exitCode = 1;
  process.disconnect?.();
}
