/**
 * The HTTPS server of the registry.
 *
 * A plain TCP listener looks at the first byte of each connection: a TLS handshake (0x16) goes
 * to the HTTPS server; anything else gets an immediate `400` and is closed. Incus tries
 * `http://` on the same port before `https://`, so that attempt must fail at once, not hang.
 * TLS 1.2 and 1.3 are offered (Incus requires 1.3 to be available).
 * @module
 */
import { STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isIPv6 } from 'node:net';
import { createStaticHandler, formatAccess, type AccessRecord } from './static.ts';
import { resolveCertificate, type ServerCertificate } from './cert.ts';

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

/** Starts the registry server. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? '0.0.0.0';
  const certificate = await resolveCertificate({ ...opts, host });
  const log = opts.log ?? ((line: string) => void process.stdout.write(line + '\n'));
  const handler = await createStaticHandler({ root: opts.registryDir, log: (r) => log(formatAccess(r), r), chunkSize: opts.chunkSize });

  let closing = false;
  const tlsSockets = new Set<TLSSocket>();
  const rawSockets = new Set<Socket>();
  const busy = new WeakMap<Socket, number>();

  const https = createHttpsServer({
    cert: certificate.cert,
    key: certificate.key,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    keepAliveTimeout: 5000,
    headersTimeout: 20_000,
    requestTimeout: 60_000,
  }, (req, res) => {
    const s = req.socket;
    busy.set(s, (busy.get(s) ?? 0) + 1);
    if (closing) res.setHeader('Connection', 'close');
    res.on('close', () => {
      const n = (busy.get(s) ?? 1) - 1;
      busy.set(s, n);
      if (closing && n === 0) s.end();
    });
    handler(req, res);
  });
  https.on('secureConnection', (s: TLSSocket) => {
    tlsSockets.add(s);
    s.on('close', () => tlsSockets.delete(s));
  });
  https.on('tlsClientError', (_err, s) => s.destroy());
  // A request Node's parser refuses (bad request line or header, headers too large): answer it
  // and end gracefully (a destroy with unread bytes would reset the connection before the client
  // reads the answer), and log it like any request.
  https.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    socket.resume();
    setTimeout(() => socket.destroy(), 2000).unref();
    const rec: AccessRecord = { time: new Date(), remote: socket.remoteAddress ?? '-', method: '-', url: `(${err.code ?? 'malformed request'})`, status, bytes: 0, ms: 0, aborted: false };
    log(formatAccess(rec), rec);
  });

  const front = createNetServer({ noDelay: true }, (sock) => {
    rawSockets.add(sock);
    sock.on('close', () => rawSockets.delete(sock));
    sock.on('error', () => sock.destroy());
    if (closing) return void sock.destroy();
    // A client that connects and says nothing is dropped.
    sock.setTimeout(20_000, () => sock.destroy());
    sock.once('data', (first: Buffer) => {
      sock.setTimeout(0);
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
        const rec: AccessRecord = {
          time: new Date(), remote: sock.remoteAddress ?? '-', method: 'PLAIN-HTTP',
          url: first.toString('latin1').split('\r\n')[0].slice(0, 200), status: 400, bytes: body.length, ms: 0, aborted: false,
        };
        log(formatAccess(rec), rec);
      } else sock.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen({ host, port: opts.port ?? 8443 }, () => {
      front.off('error', reject);
      resolve();
    });
  });
  const port = (front.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : isIPv6(host) ? `[${host}]` : host;

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
          resolve();
        } else setTimeout(check, 20);
      };
      check();
    });
    return closed;
  };

  return { url: `https://${urlHost}:${port}`, host, port, certificate, close };
}
