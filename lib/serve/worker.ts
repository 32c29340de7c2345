/**
 * One server process of a cluster (see cluster.ts): takes its configuration from the
 * environment and the certificate and key from the primary's first IPC message, starts the
 * server, reports its port, writes access-log lines on stdout, and on `shutdown` from the
 * primary (or SIGTERM) finishes in-flight requests and exits 0.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { WORKER_CONFIG_ENV, type WorkerConfig, type WorkerMessage } from './cluster.ts';
import type { ServerCertificate } from './cert.ts';
import { startServer } from './server.ts';

const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? 'null') as WorkerConfig | null;
const send = (m: WorkerMessage) => process.send?.(m);

if (!config) {
  process.stderr.write(`${WORKER_CONFIG_ENV} is not set: this file is started by lib/serve/cluster.ts\n`);
  process.exit(2);
}

/** The certificate and key from the primary (the first message it sends). */
function receiveCertificate(c: WorkerConfig): Promise<ServerCertificate> {
  return new Promise((resolve) => {
    const on = (m: WorkerMessage) => {
      if (m?.type !== 'tls') return;
      process.off('message', on);
      const x509 = new X509Certificate(m.cert);
      resolve({
        certPath: c.certPath, keyPath: c.keyPath, cert: Buffer.from(m.cert), key: Buffer.from(m.key), generated: false,
        subjectAltName: x509.subjectAltName ?? '', fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo),
      });
    };
    process.on('message', on);
    send({ type: 'want-tls' });
  });
}

try {
  const certificate = await receiveCertificate(config);
  const deny = config.deny.map((d) => ({ dev: BigInt(d.dev), ino: BigInt(d.ino) }));
  const srv = await startServer({ ...config, certificate, deny, log: (line) => void process.stdout.write(line + '\n') });
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
