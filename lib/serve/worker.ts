/**
 * One server process of a cluster (see cluster.ts): starts the server from the configuration in
 * the environment, reports its port, writes access-log lines on stdout, and on `shutdown`
 * (or SIGINT/SIGTERM, e.g. Ctrl-C reaching the whole process group) finishes in-flight requests
 * and exits 0.
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
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', port: srv.port });
} catch (e) {
  const err = e as NodeJS.ErrnoException;
  send({ type: 'error', code: err.code, message: err.message });
  process.exitCode = 1;
  process.disconnect?.();
}
