/**
 * The HTTPS server of the registry.
 *
 * A plain TCP listener looks at the first byte of each connection: a TLS handshake (0x16) goes
 * to the HTTPS server; anything else gets an immediate `400` and is closed. Incus tries
 * `http://` on the same port before `https://`, so that attempt must fail at once, not hang.
 * TLS 1.2 and 1.3 are offered (Incus requires 1.3 to be available).
 *
 * Because the HTTPS server never listens itself, Node's own header and request timeouts never
 * run; the {@link ConnectionGuard} enforces handshake, header, idle and send deadlines and the
 * connection caps instead (see guard.ts). A request is handled only once its response owns the
 * socket, so pipelined requests cost no file handle or buffer while they wait.
 * @module
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { connectHost } from '../url.ts';
import { join } from 'node:path';
import { createStaticHandler, formatAccess, type AccessRecord, type FileIdentity } from './static.ts';
import { resolveCertificate, type ServerCertificate } from './cert.ts';
import { ConnectionGuard, type GuardReason } from './guard.ts';
import { resolveLimits, type ServeLimits } from './limits.ts';
import { assertKeyOutside, assertReadable, dropPrivileges, identityOf, isRoot, type RunAs } from './privileges.ts';

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** The folder served. */
  registryDir: string;
  /** Listen address. @default "0.0.0.0" */
  host?: string;
  /** Port; 0 picks a free one. @default 8443 */
  port?: number;
  /** Where the self-signed certificate lives (generated on first run). Ignored with cert/key. */
  certDir?: string;
  /** A real certificate (PEM file) and its key; both or neither. */
  cert?: string;
  key?: string;
  /** Access-log sink: one line per request. @default stdout */
  log?: (line: string, record: AccessRecord) => void;
  /** Read chunk size of file streams (tuning). @default 1 MiB */
  chunkSize?: number;
  /** In-flight requests get this long to finish on close before their sockets are cut. @default 30000 */
  shutdownGraceMs?: number;
  /** Timeouts and caps; unset fields keep {@link DEFAULT_LIMITS}. */
  limits?: Partial<ServeLimits>;
  /** When the process runs as root: become this user once the port is bound and the key read. */
  runAs?: RunAs;
  /** The certificate, already loaded (cluster workers); `cert`/`key`/`certDir` are then ignored. */
  certificate?: ServerCertificate;
  /** Files never served (the key, by identity); computed from the certificate when not given. */
  deny?: FileIdentity[];
}

/** A running server. */
export interface RunningServer {
  /** Base URL for clients on this machine, e.g. `https://127.0.0.1:8443`. */
  url: string;
  host: string;
  port: number;
  certificate: ServerCertificate;
  /** Stops accepting, lets in-flight requests finish, closes every connection. */
  close(): Promise<void>;
}

const PLAIN_HTTP_REPLY = 'This port speaks HTTPS only: use https://\n';

/** Status logged for a connection the guard closed or refused (no response was sent). */
const GUARD_STATUS: Record<GuardReason, number> = {
  'handshake timeout': 408,
  'headers timeout': 408,
  'send timeout': 408,
  'too many connections': 503,
  'too many connections from this address': 503,
  'too many cut connections from this address': 503,
  'too many pipelined requests': 503,
};

/** An access-log record of something that is not a served request. */
function record(remote: string, method: string, url: string, status: number, bytes = 0): AccessRecord {
  return { time: new Date(), remote, method, url, status, bytes, ms: 0, aborted: false };
}

/**
 * Logs guard events, but refusals at most once per address per 10 s (with a count of the ones
 * not logged): a client reconnecting in a loop must not turn the access log into the bottleneck.
 */
function guardLogger(log: (r: AccessRecord) => void): (reason: GuardReason, remote: string) => void {
  const quiet = new Map<string, { until: number; skipped: number }>();
  return (reason, remote) => {
    if (GUARD_STATUS[reason] === 503) {
      const k = `${reason}\0${remote}`;
      const q = quiet.get(k);
      const now = Date.now();
      if (q && q.until > now) return void q.skipped++;
      if (quiet.size > 10_000) quiet.clear();
      quiet.set(k, { until: now + 10_000, skipped: 0 });
      if (q?.skipped) return log(record(remote, '-', `(${reason}; ${q.skipped} more not logged)`, 503));
    }
    log(record(remote, '-', `(${reason})`, GUARD_STATUS[reason]));
  };
}

/**
 * Answers a request Node's parser refused (bad request line or header, headers too large), once
 * per connection: the parser reports every later chunk of the same request again, and
 * destroying the socket then would reset it before the client read the answer. The rest of the
 * request is read and dropped until the client closes (or 2 s), so closing sends FIN, not RST.
 */
function clientErrorHandler(log: (r: AccessRecord) => void): (err: NodeJS.ErrnoException, socket: Socket) => void {
  const answered = new WeakSet<Socket>();
  return (err, socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    socket.resume();
    setTimeout(() => socket.destroy(), 2000).unref();
    log(record(socket.remoteAddress ?? '-', '-', `(${err.code ?? 'malformed request'})`, status));
  };
}

/**
 * Runs `handler` only once the response owns the socket. Node parses pipelined requests at once
 * and queues their responses; a handler started early would open its file and read a first
 * chunk into memory for every queued request (100 pipelined GETs: 100 handles, 200 MiB).
 */
function whenOwningSocket(res: ServerResponse, start: () => void): void {
  if (res.socket) start();
  else res.once('socket', start);
}

/** Starts the registry server. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? '0.0.0.0';
  const limits = resolveLimits(opts.limits);
  if (!opts.certificate) await assertKeyOutside(opts.registryDir, { certDir: opts.cert ? undefined : opts.certDir ?? defaultCertDir(opts.registryDir), key: opts.key });
  const certificate = opts.certificate ?? await resolveCertificate({ ...opts, host });
  await assertKeyOutside(opts.registryDir, { key: certificate.keyPath });
  const deny = opts.deny ?? [await identityOf(certificate.keyPath)];
  const log = opts.log ?? ((line: string) => void process.stdout.write(line + '\n'));
  const logRecord = (r: AccessRecord) => log(formatAccess(r), r);
  const handler = await createStaticHandler({ root: opts.registryDir, log: logRecord, chunkSize: opts.chunkSize, deny });
  const guard = new ConnectionGuard(limits, guardLogger(logRecord));

  let closing = false;
  const tlsSockets = new Set<TLSSocket>();
  const rawSockets = new Set<Socket>();
  const busy = new WeakMap<Socket, number>();

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const s = req.socket as TLSSocket;
    if (!guard.requestStarted(s)) return;
    busy.set(s, (busy.get(s) ?? 0) + 1);
    res.once('close', () => {
      guard.requestDone(s);
      const n = (busy.get(s) ?? 1) - 1;
      busy.set(s, n);
      if (closing && n === 0) s.end();
    });
    whenOwningSocket(res, () => {
      if (closing) res.setHeader('Connection', 'close');
      handler(req, res);
    });
  };
  const https = createHttpsServer({
    cert: certificate.cert,
    key: certificate.key,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    // Node's own timers: the handshake one is an inactivity timeout (a trickle resets it) and
    // headersTimeout/requestTimeout never run here (no listen()); the guard has the hard
    // deadlines. keepAliveTimeout still tells clients (Keep-Alive header) how long idle lasts.
    handshakeTimeout: limits.handshakeTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    requestTimeout: 0,
  }, onRequest);
  https.on('secureConnection', (s: TLSSocket) => {
    tlsSockets.add(s);
    s.on('close', () => tlsSockets.delete(s));
    guard.secured(s);
  });
  https.on('tlsClientError', (_err, s) => s.destroy());
  https.on('clientError', clientErrorHandler(logRecord));

  const front = createNetServer({ noDelay: true }, (sock) => {
    sock.on('error', () => sock.destroy());
    if (closing) return void sock.destroy();
    if (!guard.admit(sock)) return;
    rawSockets.add(sock);
    sock.on('close', () => rawSockets.delete(sock));
    sock.once('data', (first: Buffer) => {
      sock.pause();
      rawSockets.delete(sock);
      if (first[0] === 0x16) {
        sock.unshift(first);
        https.emit('connection', sock);
        process.nextTick(() => sock.resume());
        return;
      }
      const body = /^[A-Z]+ /.test(first.toString('latin1', 0, 8)) ? PLAIN_HTTP_REPLY : '';
      if (body) {
        sock.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        logRecord(record(sock.remoteAddress ?? '-', 'PLAIN-HTTP', first.toString('latin1').split('\r\n')[0].slice(0, 200), 400, body.length));
      } else sock.destroy();
    });
  });
  // Accept errors (EMFILE under a flood) must not crash the server; libuv keeps accepting.
  front.on('error', (e: NodeJS.ErrnoException) => logRecord(record('-', '-', `(accept: ${e.code ?? e.message})`, 503)));

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen({ host, port: opts.port ?? 8443 }, () => {
      front.off('error', reject);
      resolve();
    });
  });
  const port = (front.address() as AddressInfo).port;
  const urlHost = connectHost(host);

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      front.close();
      for (const s of rawSockets) s.destroy();
      for (const s of tlsSockets) if (!busy.get(s)) s.end();
      const timer = setTimeout(() => {
        for (const s of tlsSockets) s.destroy();
      }, opts.shutdownGraceMs ?? 30_000);
      const check = () => {
        if (tlsSockets.size === 0 && rawSockets.size === 0) {
          clearTimeout(timer);
          guard.stop();
          resolve();
        } else setTimeout(check, 20);
      };
      check();
    });
    return closed;
  };

  // Root is needed only to bind (ports < 1024) and to read the key: both are done. (Cluster
  // workers are started as the user already; they only check they can read the registry.)
  if (opts.runAs) {
    try {
      if (isRoot()) dropPrivileges(opts.runAs);
      await assertReadable(opts.registryDir, opts.runAs);
    } catch (e) {
      await close();
      throw e;
    }
  }
  return { url: `https://${urlHost}:${port}`, host, port, certificate, close };
}

/** Where the self-signed certificate lives when no folder is given: beside the registry. */
export function defaultCertDir(registryDir: string): string {
  return join(registryDir, '..', '.certs');
}
