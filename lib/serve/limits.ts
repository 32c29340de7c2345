/**
 * Limits of the HTTPS server: timeouts and caps that keep slow, pipelining and greedy clients
 * from holding sockets, memory and file handles. Defaults are documented in docs/registry.md
 * (Hardening); every one is a `serve` option.
 * @module
 */

/** Timeouts (milliseconds) and caps of one server process. */
export interface ServeLimits {
  /** From accept to a completed TLS handshake (first byte included); a hard deadline. */
  handshakeTimeoutMs: number;
  /** From the first byte of a request to the end of its headers; a hard deadline. */
  headersTimeoutMs: number;
  /** A connection with nothing in flight that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /** A response whose socket accepts no bytes for this long is cut (stalled reader). */
  sendTimeoutMs: number;
  /** Requests received on one connection and not yet answered; one more closes it. */
  maxPipelined: number;
  /** Open connections per client address (per server process); more are closed at once. */
  maxConnectionsPerAddress: number;
  /** Open connections in total (per server process); more are closed at once. */
  maxConnections: number;
  /**
   * Connections of one address the guard had to cut (a timeout or the pipelining cap) in the
   * last minute; at this many, its new connections are closed at accept until the oldest cut is
   * a minute old. A cut costs the server a TLS handshake and parsing; a refusal costs nothing.
   */
  maxCutsPerAddress: number;
}

/** The defaults (per server process). */
export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  sendTimeoutMs: 30_000,
  maxPipelined: 16,
  maxConnectionsPerAddress: 64,
  maxConnections: 1024,
  maxCutsPerAddress: 10,
});

/** The defaults overridden by the defined fields of `partial`; rejects values that are not positive integers. */
export function resolveLimits(partial: Partial<ServeLimits> = {}): ServeLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(partial) as [keyof ServeLimits, number | undefined][]) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_LIMITS)) throw new RangeError(`unknown server limit "${k}"`);
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`server limit ${k} must be a positive integer, not ${v}`);
    out[k] = v;
  }
  return out;
}
