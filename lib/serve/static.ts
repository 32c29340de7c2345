/**
 * Static files from the registry folder, and nothing else: GET and HEAD, Content-Length,
 * Content-Type, ETag / If-None-Match (304), Last-Modified, single Range requests (206 / 416),
 * 404 for missing files, directories and dot files (no listings), and every path that could
 * leave the folder refused: `..` segments, encoded slashes or backslashes, double encoding, NUL,
 * and symlinks whose target resolves outside.
 * @module
 */
import { constants } from 'node:fs';
import { lstat, open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

/** Outcome of {@link resolveRequestPath}. */
export type PathCheck = { ok: true; rel: string } | { ok: false; status: 400 | 404; reason: string };

/**
 * Checks a raw request target and returns the relative file path it names. Decodes exactly
 * once; anything still looking encoded after that is refused rather than guessed at.
 */
export function resolveRequestPath(rawUrl: string): PathCheck {
  if (!rawUrl.startsWith('/')) return { ok: false, status: 400, reason: 'request target must be a path' };
  const q = rawUrl.search(/[?#]/);
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (/%2f|%5c|%00/i.test(rawPath)) return { ok: false, status: 400, reason: 'encoded slash, backslash or NUL' };
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding' };
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\%]/.test(path)) return { ok: false, status: 400, reason: 'control character, backslash or double encoding' };
  const segs = path.slice(1).split('/');
  if (segs.length && segs[segs.length - 1] === '') segs.pop(); // trailing slash: a directory, 404 below
  if (segs.some((s) => s === '..' || s === '.')) return { ok: false, status: 400, reason: 'dot segment' };
  if (segs.some((s) => s === '')) return { ok: false, status: 400, reason: 'empty path segment' };
  if (segs.length === 0) return { ok: true, rel: 'index.html' }; // the web catalogue (lib/catalogue); 404 without one
  if (segs.some((s) => s.startsWith('.'))) return { ok: false, status: 404, reason: 'hidden file' };
  if (path.endsWith('/')) return { ok: false, status: 404, reason: 'no listing' };
  return { ok: true, rel: segs.join('/') };
}

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.xz': 'application/x-xz',
  '.squashfs': 'application/octet-stream',
  '.qcow2': 'application/octet-stream',
  '.img': 'application/octet-stream',
  '.gz': 'application/gzip',
  '.sjson': 'application/json',
  '.gpg': 'application/pgp-signature',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.crt': 'application/x-pem-file',
  '.minisig': 'text/plain; charset=utf-8',
  '.jsonl': 'application/jsonl',
};

/** Content-Type of a file name. */
export function contentType(name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

const CONTENT_ADDRESSED = /^images\/([0-9a-f]{64})\.[a-z0-9.]+$/;

/** Parses a Range header for a file of `size` bytes: a single range, `unsatisfiable`, or `ignore` (serve all). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | 'ignore' {
  if (!header) return 'ignore';
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return 'ignore'; // multiple ranges or another unit: a full 200 is allowed
  const [, a, b] = m;
  if (a === '' && b === '') return 'ignore';
  let start: number;
  let end: number;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return 'ignore'; // invalid: ignored per RFC 9110
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => bare(t) === bare(etag));
}

/** Resolves when `res` accepted `buf` (flushed to the socket), false if the response died. */
function writeAndWait(res: ServerResponse, buf: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve(false);
    const onClose = () => resolve(false);
    res.once('close', onClose);
    res.write(buf, (err) => {
      res.off('close', onClose);
      resolve(!err);
    });
  });
}

/**
 * Read buffers of one size, reused across responses. A flood of short-lived responses
 * (pipeliners, clients that leave at once) allocating 2 MiB each made the heap's external
 * memory, and the RSS, balloon before the GC caught up. Only buffers whose write completed (or
 * that were never written) come back: a buffer of a destroyed response may still be referenced.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  /** @param size bytes per buffer; @param keep free buffers kept at most (the rest go to the GC) */
  constructor(readonly size: number, private readonly keep = 32) {}

  /** A buffer of `size` bytes, reused when one is free. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  /** Returns a buffer taken from this pool. */
  give(b: Buffer): void {
    if (this.free.length < this.keep) this.free.push(b);
  }
}

/** A write slower than this marks the client slow: no read-ahead while it is (see sendRange). */
const SLOW_WRITE_MS = 250;

/** `p`, or 'late' when it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A chunk of the file in a pooled buffer. */
interface Chunk {
  buf: Buffer;
  data: Buffer;
  at: number;
}

/**
 * Streams bytes `start..end` of an open file into the response with pooled buffers: the next
 * chunk is read while the previous one is being encrypted and sent. Under TLS this costs far
 * less CPU than a read stream (no buffer per chunk, fewer larger writes): see docs/registry.md,
 * Benchmark. While the client is slow (a write takes over 250 ms) nothing is read ahead, so a
 * stalled reader pins one buffer, not two, until the send timeout cuts it. Closes the file in
 * every case; destroys the response on a read error.
 */
async function sendRange(fh: FileHandle, res: ServerResponse, start: number, end: number, pool: BufferPool, sent: { bytes: number }): Promise<void> {
  const total = end - start + 1;
  let pos = start;
  const readChunk = async (): Promise<Chunk | undefined> => {
    const n = Math.min(pool.size, end + 1 - pos);
    if (n <= 0) return undefined;
    const at = pos;
    pos += n;
    const buf = pool.take();
    try {
      const { bytesRead } = await fh.read(buf, 0, n, at);
      if (bytesRead > 0) return { buf, data: buf.subarray(0, bytesRead), at };
    } catch (e) {
      pool.give(buf);
      throw e;
    }
    pool.give(buf);
    return undefined;
  };
  let ahead: Promise<Chunk | undefined> | undefined;
  try {
    let current = await readChunk();
    while (current) {
      const writing = writeAndWait(res, current.data);
      ahead = readChunk();
      ahead.catch(() => {}); // handled where awaited
      let ok = await within(writing, SLOW_WRITE_MS);
      if (ok === 'late') {
        const unread = await ahead; // give the read-ahead back; read it again after this write
        ahead = undefined;
        if (unread) {
          pos = unread.at;
          pool.give(unread.buf);
        }
        ok = await writing;
      }
      if (!ok) return; // the response is gone; `current` may still be referenced by its write
      sent.bytes += current.data.length;
      pool.give(current.buf);
      current = await (ahead ?? readChunk());
      ahead = undefined;
    }
    if (sent.bytes !== total) throw new Error(`file shrank while being sent (${sent.bytes} of ${total} bytes)`);
    res.end();
  } catch {
    res.destroy();
  } finally {
    void ahead?.then((c) => c && pool.give(c.buf), () => {});
    await fh.close().catch(() => {});
  }
}

/** One access-log record. */
export interface AccessRecord {
  time: Date;
  remote: string;
  method: string;
  url: string;
  status: number;
  bytes: number;
  ms: number;
  aborted: boolean;
}

/** Formats an access-log line; the URL is escaped so a request cannot forge log lines. */
export function formatAccess(r: AccessRecord): string {
  // eslint-disable-next-line no-control-regex
  const url = r.url.replace(/[\x00-\x1f\x7f"\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${r.time.toISOString()} ${r.remote} "${r.method} ${url}" ${r.status} ${r.bytes} ${r.ms}ms${r.aborted ? ' aborted' : ''}`;
}

/** Options of {@link createStaticHandler}. */
export interface StaticOptions {
  /** The folder served (resolved with realpath once). */
  root: string;
  /** Receives one record per request. */
  log?: (r: AccessRecord) => void;
  /** Read-stream chunk size: larger chunks cost far less CPU per byte under TLS. @default 1 MiB */
  chunkSize?: number;
  /**
   * Files never served whatever their name, by identity (device and inode): the server's
   * private key, so that no hard link, bind mount or copy-by-link inside the folder exposes it.
   */
  deny?: FileIdentity[];
}

/** A file's identity: what a hard link or a bind mount shares with the original. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
}

/**
 * Opens `real` for reading only if it is a regular file. The type is checked with `lstat`
 * BEFORE opening, because `open()` of a FIFO blocks until a writer appears, and it blocks a
 * libuv pool thread: four such requests hang every file request of the server. `O_NONBLOCK`
 * covers a swap between the check and the open (a FIFO then opens at once and fails the second
 * check); it changes nothing for regular files. Returns undefined for anything else.
 */
async function openRegular(real: string, deny: FileIdentity[]): Promise<FileHandle | undefined> {
  const pre = await lstat(real, { bigint: true }).catch(() => undefined);
  if (!pre?.isFile()) return undefined;
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: the resolved path must not have become a symlink since realpath.
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  const st = await fh.stat({ bigint: true }).catch(() => undefined);
  const denied = deny.some((d) => d.dev === st?.dev && d.ino === st?.ino);
  if (!st?.isFile() || st.ino !== pre.ino || st.dev !== pre.dev || denied) {
    await fh.close().catch(() => {});
    return undefined;
  }
  return fh;
}

/** The request handler. */
export async function createStaticHandler(opts: StaticOptions): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const root = await realpath(opts.root);
  const pool = new BufferPool(opts.chunkSize ?? 1024 * 1024);
  const deny = opts.deny ?? [];

  const plain = (res: ServerResponse, status: number, text: string, head = false) => {
    const body = Buffer.from(text + '\n');
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, 'X-Content-Type-Options': 'nosniff' });
    res.end(head ? undefined : body);
  };

  async function serve(req: IncomingMessage, res: ServerResponse, sent: { bytes: number }): Promise<void> {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      return plain(res, 405, 'method not allowed');
    }
    const check = resolveRequestPath(req.url ?? '');
    if (!check.ok) return plain(res, check.status, check.status === 404 ? 'not found' : `bad request: ${check.reason}`, head);
    let real: string;
    try {
      real = await realpath(join(root, check.rel));
    } catch {
      return plain(res, 404, 'not found', head);
    }
    if (!real.startsWith(root + sep)) return plain(res, 404, 'not found', head); // a symlink pointing outside
    // Directories (no listing), FIFOs, sockets, devices and denied files are all 404.
    const fh = await openRegular(real, deny);
    if (!fh) return plain(res, 404, 'not found', head);
    let handedOff = false;
    try {
      const st = await fh.stat({ bigint: true });
      const size = Number(st.size);
      const mtime = new Date(Number(st.mtimeMs));
      const ca = CONTENT_ADDRESSED.exec(check.rel);
      const etag = ca ? `"${ca[1]}"` : `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}-${st.ino.toString(16)}"`;
      res.setHeader('ETag', etag);
      res.setHeader('Last-Modified', mtime.toUTCString());
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Cache-Control', ca ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      if (inm ? etagMatches(inm, etag) : ims && Math.floor(mtime.getTime() / 1000) <= Math.floor(Date.parse(ims) / 1000)) {
        res.writeHead(304);
        res.end();
        return;
      }
      let range = parseRange(req.headers.range, size);
      const ifRange = req.headers['if-range'] as string | undefined;
      if (range !== 'ignore' && ifRange && ifRange.trim() !== etag && ifRange.trim() !== mtime.toUTCString()) range = 'ignore';
      res.setHeader('Content-Type', contentType(check.rel));
      if (range === 'unsatisfiable') {
        res.setHeader('Content-Range', `bytes */${size}`);
        return plain(res, 416, 'range not satisfiable', head);
      }
      const [status, start, end] = range === 'ignore' ? [200, 0, size - 1] : [206, range.start, range.end];
      if (status === 206) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      res.writeHead(status, { 'Content-Length': size === 0 ? 0 : end - start + 1 });
      if (head || size === 0) {
        res.end();
        return;
      }
      handedOff = true;
      void sendRange(fh, res, start, end, pool, sent);
    } finally {
      if (!handedOff) await fh.close().catch(() => {});
    }
  }

  return (req, res) => {
    const t0 = process.hrtime.bigint();
    const sent = { bytes: 0 };
    const remote = req.socket.remoteAddress ?? '-';
    let logged = false;
    const done = (aborted: boolean) => {
      if (logged) return;
      logged = true;
      const status = res.statusCode;
      const noBody = req.method === 'HEAD' || status === 304;
      const declared = Number(res.getHeader('content-length') ?? 0);
      opts.log?.({
        time: new Date(),
        remote,
        method: req.method ?? '-',
        url: req.url ?? '',
        status,
        bytes: noBody ? 0 : sent.bytes || (aborted ? 0 : declared),
        ms: Math.round(Number(process.hrtime.bigint() - t0) / 1e6),
        aborted,
      });
    };
    res.on('finish', () => done(false));
    res.on('close', () => done(!res.writableFinished));
    serve(req, res, sent).catch(() => {
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  };
}
