/**
 * Several server processes on one port (node:cluster), so TLS encryption uses every core the
 * way nginx's worker processes do: one Node process saturates one core at a few hundred MB/s.
 * The primary generates/loads the certificate once, forks the workers (lib/serve/worker.ts),
 * relays their access-log lines, replaces a worker that dies, and on close() asks each worker
 * to finish its in-flight requests and exit.
 *
 * Privileges: the primary binds the shared port (node:cluster does, on the first worker's
 * listen) and reads the key; it hands the key to each worker over the IPC channel (never
 * through the environment or a file the worker must open). Started as root with `runAs`, each
 * worker drops to that user as soon as it listens, before it takes a connection, and the
 * primary drops once every worker is ready. A worker that dies later is replaced by one forked
 * by the unprivileged primary (so it must be able to read the project's code).
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { resolveCertificate, type ServerCertificate } from './cert.ts';
import { defaultCertDir, type ServerOptions } from './server.ts';
import type { ServeLimits } from './limits.ts';
import { connectHost } from '../url.ts';
import { assertKeyOutside, dropPrivileges, identityOf, isRoot, type RunAs } from './privileges.ts';

/** Environment variable carrying a worker's configuration (JSON). */
export const WORKER_CONFIG_ENV = 'APPLIANCE_SERVE_WORKER';

/** A worker's configuration (no secrets: it travels in the environment): {@link ServerOptions} without functions. */
export interface WorkerConfig {
  registryDir: string;
  host: string;
  port: number;
  /** Paths of the certificate and key, for messages only: the PEM comes over IPC. */
  certPath: string;
  keyPath: string;
  /** Identities of files never served (the key), bigints as decimal strings. */
  deny: { dev: string; ino: string }[];
  chunkSize?: number;
  shutdownGraceMs?: number;
  limits?: Partial<ServeLimits>;
  runAs?: RunAs;
}

/** Messages between primary and workers. */
export type WorkerMessage =
  | { type: 'want-tls' }
  | { type: 'tls'; cert: string; key: string }
  | { type: 'ready'; port: number }
  | { type: 'error'; code?: string; message: string }
  | { type: 'shutdown' };

/** A running cluster. */
export interface RunningCluster {
  port: number;
  url: string;
  certificate: ServerCertificate;
  workers: number;
  close(): Promise<void>;
}

/** Starts `workers` server processes sharing one port. */
export async function startCluster(opts: Omit<ServerOptions, 'log'> & { workers: number; log?: (line: string) => void; warn?: (line: string) => void }): Promise<RunningCluster> {
  const host = opts.host ?? '0.0.0.0';
  await assertKeyOutside(opts.registryDir, { certDir: opts.cert ? undefined : opts.certDir ?? defaultCertDir(opts.registryDir), key: opts.key });
  const certificate = await resolveCertificate({ ...opts, host });
  await assertKeyOutside(opts.registryDir, { key: certificate.keyPath });
  const keyId = await identityOf(certificate.keyPath);
  const log = opts.log ?? ((l: string) => void process.stdout.write(l + '\n'));
  const warn = opts.warn ?? ((l: string) => void process.stderr.write(l + '\n'));
  const config: WorkerConfig = {
    registryDir: opts.registryDir, host, port: opts.port ?? 8443, certPath: certificate.certPath, keyPath: certificate.keyPath,
    deny: [{ dev: String(keyId.dev), ino: String(keyId.ino) }],
    chunkSize: opts.chunkSize, shutdownGraceMs: opts.shutdownGraceMs, limits: opts.limits, runAs: opts.runAs,
  };
  const tls: WorkerMessage = { type: 'tls', cert: certificate.cert.toString(), key: certificate.key.toString() };
  const dropTo = opts.runAs && isRoot() && opts.runAs.uid !== 0 ? opts.runAs : undefined;
  cluster.setupPrimary({
    exec: join(import.meta.dirname, 'worker.ts'),
    execArgv: ['--import', import.meta.resolve('tsx')],
    args: [],
    silent: true,
    // Workers start as this process's user and drop to `runAs` once listening, before their
    // first connection (startServer): forked as the user, they could not even load their
    // code from a project under a private folder (/root, a CI checkout).
  });
  let closing = false;
  const live = new Set<Worker>();

  const fork = (): Promise<number> => new Promise((resolve, reject) => {
    const w = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    live.add(w);
    let ready = false;
    let stderr = '';
    if (w.process.stdout) createInterface({ input: w.process.stdout }).on('line', log);
    w.process.stderr?.on('data', (d) => { stderr += d; if (stderr.length > 10_000) stderr = stderr.slice(-10_000); });
    w.on('message', (m: WorkerMessage) => {
      // Asked for, not pushed: a message sent before the worker listens would be lost.
      if (m.type === 'want-tls') w.send(tls);
      else if (m.type === 'ready') {
        ready = true;
        resolve(m.port);
      }
      else if (m.type === 'error') reject(Object.assign(new Error(m.message), { code: m.code }));
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      reject(new Error(`server worker exited (${code ?? signal}) before it was ready${stderr ? `: ${stderr.trim()}` : ''}`));
      // Replace a worker that died while serving (not one that failed to start: no restart loop).
      if (!closing && ready) {
        warn(`server worker ${w.process.pid} died (${code ?? signal}); starting another${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
        fork().catch((e) => warn(`could not restart a server worker: ${(e as Error).message}`));
      }
    });
  });

  const killAll = () => { for (const w of live) w.process.kill('SIGKILL'); };
  let port: number;
  try {
    // Every worker listens with the same arguments (port 0 included): the primary keys the
    // shared listening socket by them, so all get the port the first one was given.
    port = await fork();
    await Promise.all(Array.from({ length: Math.max(0, opts.workers - 1) }, () => fork()));
    // The port is bound and the key read: the primary needs root no more either.
    if (dropTo) dropPrivileges(dropTo);
  } catch (e) {
    closing = true;
    killAll();
    throw e;
  }
  const urlHost = connectHost(host);

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      if (live.size === 0) return resolve();
      const timer = setTimeout(killAll, (opts.shutdownGraceMs ?? 30_000) + 5000);
      for (const w of live) {
        w.on('exit', () => {
          if (live.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        });
        if (w.isConnected()) w.send({ type: 'shutdown' } satisfies WorkerMessage);
      }
    });
    return closed;
  };
  return { port, url: `https://${urlHost}:${port}`, certificate, workers: live.size, close };
}
