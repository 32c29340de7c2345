/** Helpers of the server tests: HTTPS requests with the pinned certificate, raw sockets. */
import { request } from 'node:https';
import { connect as netConnect } from 'node:net';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

/** A response, body collected. */
export interface Resp {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTPS request to 127.0.0.1:port, trusting exactly `ca`. The path is sent as given. */
export function get(port: number, ca: Buffer, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes over TLS (for request lines Node's client would not send) and reads until close. */
export function rawTls(port: number, ca: Buffer, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => s.write(data));
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/**
 * Plain HTTP on the TLS port: resolves with what came back and when the connection ended.
 * Rejects if nothing happens within `limitMs` (the failure this guards against is a hang).
 */
export function plainHttp(port: number, limitMs: number): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = netConnect({ host: '127.0.0.1', port }, () => s.write('GET /streams/v1/index.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    let text = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`plain HTTP request still open after ${limitMs} ms`)); }, limitMs);
    s.on('data', (d) => { text += d; });
    s.on('close', () => { clearTimeout(timer); resolve({ text, ms: Date.now() - t0 }); });
    s.on('error', () => {});
  });
}

/** Waits until `cond` holds (polling), failing after `limitMs`. */
export async function until(cond: () => boolean, limitMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > limitMs) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A socket under test and a promise of its close (resolves with the ms it stayed open). */
export interface Watched<S> {
  sock: S;
  closed: Promise<number>;
  isClosed: () => boolean;
}

/** Watches `sock` for close; errors (resets) count as closed too. */
export function watch<S extends NodeJS.EventEmitter>(sock: S): Watched<S> {
  const t0 = Date.now();
  let done = false;
  const closed = new Promise<number>((resolve) => {
    sock.on('error', () => {});
    sock.on('close', () => { done = true; resolve(Date.now() - t0); });
  });
  return { sock, closed, isClosed: () => done };
}

/** A TLS connection to 127.0.0.1:port, resolved once the handshake is done. */
export function tlsOpen(port: number, ca: Buffer, opts: { localAddress?: string } = {}): Promise<Watched<TLSSocket>> {
  return new Promise((resolve, reject) => {
    // localAddress reaches net.connect (its types leave it out of tls.ConnectionOptions).
    const o: ConnectionOptions & { localAddress?: string } = { host: '127.0.0.1', port, ca, servername: 'localhost', localAddress: opts.localAddress };
    const s = tlsConnect(o, () => resolve(w));
    const w = watch(s);
    s.once('error', reject);
  });
}

/** True when `w` closes within `ms`. */
export async function closesWithin(w: Watched<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); });
  return Promise.race([w.closed.then(() => true), late]).finally(() => clearTimeout(timer));
}

/** Open file descriptors of this process whose target is `path`. */
export function fdsTo(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}
