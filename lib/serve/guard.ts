/**
 * The connection guard: admission caps and the timeouts of every connection, enforced by one
 * sweep timer.
 *
 * Why not Node's own `headersTimeout` / `requestTimeout`: the HTTPS server never calls
 * `listen()` (the front TCP listener hands it sockets with `emit('connection')`, see server.ts),
 * and Node starts its timeout checker only on `'listening'`, so those options silently did
 * nothing. The TLS `handshakeTimeout` and socket inactivity timeouts are reset by every byte, so
 * a client trickling one byte at a time never hits them. The guard uses hard deadlines instead,
 * measured on the raw TCP socket's byte counters (public API, and they move with the kernel,
 * not with what Node buffered):
 *
 * - handshake: accept -> TLS established within `handshakeTimeoutMs`;
 * - idle: nothing in flight and no byte received for `idleTimeoutMs` -> closed;
 * - headers: once a byte of a request arrived, its headers must be complete within
 *   `headersTimeoutMs`;
 * - send: while a response is in flight, the socket must accept bytes at least once every
 *   `sendTimeoutMs` (a client that stops reading is cut).
 * @module
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServeLimits } from './limits.ts';

/** Why the guard closed or refused a connection. */
export type GuardReason =
  | 'handshake timeout'
  | 'headers timeout'
  | 'send timeout'
  | 'too many connections'
  | 'too many connections from this address'
  | 'too many cut connections from this address'
  | 'too many pipelined requests';

/** Window in which cut connections count against an address. */
const CUT_WINDOW_MS = 60_000;

/** One connection as the guard sees it. */
interface Conn {
  raw: Socket;
  remote: string;
  key: string;
  acceptedAt: number;
  secured: boolean;
  /** Requests received and not yet answered (the one being sent plus the queued ones). */
  inFlight: number;
  /** When the connection last became idle (handshake done, or last response finished). */
  idleSince: number;
  readMark: number;
  /** When the first byte of the next request was seen (0: none yet). */
  headersSince: number;
  writeMark: number;
  progressAt: number;
}

const keyOf = (s: Socket) => `${s.remoteAddress}\0${s.remotePort}`;

/** Caps and timeouts of one server process's connections. */
export class ConnectionGuard {
  private readonly conns = new Map<string, Conn>();
  private readonly bySocket = new WeakMap<TLSSocket, Conn>();
  private readonly perAddress = new Map<string, number>();
  /** Times of recent cuts per address (oldest first, at most maxCutsPerAddress kept). */
  private readonly cuts = new Map<string, number[]>();
  private readonly timer: NodeJS.Timeout;

  /**
   * @param limits the timeouts and caps
   * @param onEvent told about every connection the guard closes or refuses, before it does
   * @param now monotonic clock in ms (tests)
   */
  constructor(
    private readonly limits: ServeLimits,
    private readonly onEvent: (reason: GuardReason, remote: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    const shortest = Math.min(limits.handshakeTimeoutMs, limits.headersTimeoutMs, limits.idleTimeoutMs, limits.sendTimeoutMs);
    // A deadline is overshot by at most one tick; 1 s is plenty for the default timeouts.
    const tick = Math.max(25, Math.min(1000, Math.floor(shortest / 4)));
    this.timer = setInterval(() => this.sweep(), tick).unref();
  }

  /** Number of connections the guard tracks. */
  get size(): number {
    return this.conns.size;
  }

  /** A new TCP connection: tracked and true, or refused (destroyed) and false when over a cap. */
  admit(raw: Socket): boolean {
    const remote = raw.remoteAddress ?? '-';
    const n = this.perAddress.get(remote) ?? 0;
    const t = this.now();
    const reason = this.conns.size >= this.limits.maxConnections ? 'too many connections'
      : n >= this.limits.maxConnectionsPerAddress ? 'too many connections from this address'
        : this.recentCuts(remote, t) >= this.limits.maxCutsPerAddress ? 'too many cut connections from this address' : undefined;
    if (reason) {
      this.onEvent(reason, remote);
      raw.destroy();
      return false;
    }
    const c: Conn = { raw, remote, key: keyOf(raw), acceptedAt: t, secured: false, inFlight: 0, idleSince: t, readMark: 0, headersSince: 0, writeMark: 0, progressAt: t };
    this.conns.set(c.key, c);
    this.perAddress.set(remote, n + 1);
    raw.once('close', () => this.forget(c));
    return true;
  }

  /** The TLS handshake of an admitted connection completed. */
  secured(tls: TLSSocket): void {
    const c = this.conns.get(keyOf(tls));
    if (!c) return;
    this.bySocket.set(tls, c);
    c.secured = true;
    this.becameIdle(c);
  }

  /**
   * A request arrived on `tls`. False when it is one too many in flight on that connection:
   * the connection is then destroyed (responses are sent in order, so there is no answering
   * the excess early).
   */
  requestStarted(tls: TLSSocket): boolean {
    const c = this.bySocket.get(tls);
    if (!c) return true;
    // Node's parser goes on through the rest of a pipelined batch after the close: refuse each
    // of those requests quietly (logging each would let one packet write a hundred lines).
    if (c.raw.destroyed) return false;
    if (c.inFlight === 0) {
      c.headersSince = 0;
      c.writeMark = c.raw.bytesWritten;
      c.progressAt = this.now();
    }
    c.inFlight++;
    if (c.inFlight > this.limits.maxPipelined) {
      this.close(c, 'too many pipelined requests');
      return false;
    }
    return true;
  }

  /** A response on `tls` finished or was abandoned. */
  requestDone(tls: TLSSocket): void {
    const c = this.bySocket.get(tls);
    if (!c || c.inFlight === 0) return;
    if (--c.inFlight === 0) this.becameIdle(c);
  }

  /** Stops the sweep timer (connections are left to the caller). */
  stop(): void {
    clearInterval(this.timer);
  }

  private becameIdle(c: Conn): void {
    c.idleSince = this.now();
    c.readMark = c.raw.bytesRead;
    c.headersSince = 0;
  }

  private forget(c: Conn): void {
    if (this.conns.get(c.key) !== c) return;
    this.conns.delete(c.key);
    const n = (this.perAddress.get(c.remote) ?? 1) - 1;
    if (n > 0) this.perAddress.set(c.remote, n);
    else this.perAddress.delete(c.remote);
  }

  /** Cuts of `remote` within the window ending at `t`. */
  private recentCuts(remote: string, t: number): number {
    const list = this.cuts.get(remote);
    if (!list) return 0;
    while (list.length && t - list[0] > CUT_WINDOW_MS) list.shift();
    if (list.length === 0) this.cuts.delete(remote);
    return list.length;
  }

  private close(c: Conn, reason: GuardReason): void {
    this.onEvent(reason, c.remote);
    this.forget(c);
    const list = this.cuts.get(c.remote) ?? [];
    list.push(this.now());
    if (list.length > this.limits.maxCutsPerAddress) list.shift();
    this.cuts.set(c.remote, list);
    // A reset, not a FIN: a FIN would queue behind the megabytes a stalled reader left in the
    // kernel's send buffer, which would stay allocated for minutes (FIN-WAIT-1).
    c.raw.resetAndDestroy();
  }

  /** Applies every deadline; runs on the timer. */
  sweep(): void {
    const t = this.now();
    const l = this.limits;
    for (const remote of [...this.cuts.keys()]) this.recentCuts(remote, t); // forget old cuts
    for (const c of [...this.conns.values()]) {
      if (c.raw.destroyed) {
        this.forget(c);
      } else if (!c.secured) {
        if (t - c.acceptedAt > l.handshakeTimeoutMs) this.close(c, 'handshake timeout');
      } else if (c.inFlight > 0) {
        const w = c.raw.bytesWritten;
        if (w !== c.writeMark) {
          c.writeMark = w;
          c.progressAt = t;
        } else if (t - c.progressAt > l.sendTimeoutMs) this.close(c, 'send timeout');
      } else if (c.headersSince === 0 && c.raw.bytesRead !== c.readMark) {
        c.headersSince = t; // the next request started arriving
      } else if (c.headersSince !== 0) {
        if (t - c.headersSince > l.headersTimeoutMs) this.close(c, 'headers timeout');
      } else if (t - c.idleSince > l.idleTimeoutMs) {
        // An idle keep-alive connection: closing it is routine, not worth a log line.
        this.forget(c);
        c.raw.destroy();
      }
    }
  }
}
