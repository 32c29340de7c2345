/**
 * The HTTP side of the remote cache: plain GET, HEAD, PUT and DELETE against a base URL, as any
 * WebDAV-capable web server (nginx `dav_methods PUT DELETE`) or object store answers them.
 * Bodies stream (a base tree is hundreds of MiB): downloads are hashed while they are written,
 * uploads read the file as they send it. Node's own fetch (undici) does all of it; no library
 * adds anything here.
 *
 * Credentials in the URL (`https://user:secret@host/cache/`) are sent as HTTP Basic auth and
 * never printed ({@link redactUrl}).
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What went wrong talking to the cache; the stage decides what each kind means for the build. */
export type CacheErrorKind = 'unreachable' | 'timeout' | 'forbidden' | 'http' | 'integrity';

/** An expected failure of the cache (never a bug): the build goes on without the cache entry. */
export class CacheError extends Error {
  override name = 'CacheError';
  constructor(readonly kind: CacheErrorKind, message: string, readonly status?: number) {
    super(message);
  }
}

/** Timeouts, ms. */
export interface HttpTimeouts {
  /** Until the response headers arrive. @default 15000 */
  headers: number;
  /** Longest pause between two chunks of a body. @default 30000 */
  idle: number;
}

const DEFAULT_TIMEOUTS: HttpTimeouts = { headers: 15_000, idle: 30_000 };

/** `https://user:secret@host/x` -> `https://host/x` (for messages). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//');
  }
}

/** Result of a streamed download. */
export interface Downloaded {
  sha256: string;
  size: number;
}

/** A client of one cache base URL. */
export class CacheHttp {
  readonly base: string;
  private auth?: string;
  private timeouts: HttpTimeouts;

  /** @param url base URL (`http://host:8080/cache/`); a missing trailing slash is added. */
  constructor(url: string, timeouts: Partial<HttpTimeouts> = {}) {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CacheError('http', `cache URL must be http:// or https://, got ${u.protocol}`);
    if (u.username || u.password) this.auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    u.username = '';
    u.password = '';
    if (!u.pathname.endsWith('/')) u.pathname += '/';
    this.base = u.toString();
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...timeouts };
  }

  /** The URL of `rel` below the base. */
  url(rel: string): string {
    return new URL(rel, this.base).toString();
  }

  /**
   * One request; resolves with the response once its headers are in. Network failures and the
   * header timeout become {@link CacheError}s; statuses are the caller's business.
   */
  private async request(method: string, rel: string, signal: AbortSignal, init: { body?: ReadableStream | Uint8Array; headers?: Record<string, string> } = {}, headersMs = this.timeouts.headers): Promise<{ res: Response; idle: AbortController }> {
    const idle = new AbortController();
    const timer = setTimeout(() => idle.abort(new CacheError('timeout', `${method} ${rel}: no response after ${headersMs / 1000} s`)), headersMs);
    const headers: Record<string, string> = { ...init.headers, ...(this.auth ? { authorization: this.auth } : {}) };
    try {
      const res = await fetch(this.url(rel), {
        method, headers, body: init.body, signal: AbortSignal.any([signal, idle.signal]),
        // A streamed request body needs half duplex (undici).
        ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
      } as RequestInit);
      return { res, idle };
    } catch (e) {
      if (signal.aborted) throw signal.reason ?? e;
      if (idle.signal.aborted) throw idle.signal.reason;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CacheError('unreachable', `${method} ${redactUrl(this.url(rel))}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private statusError(method: string, rel: string, res: Response): CacheError {
    const kind = res.status === 401 || res.status === 403 ? 'forbidden' : 'http';
    return new CacheError(kind, `${method} ${redactUrl(this.url(rel))}: HTTP ${res.status} ${res.statusText}`.trim(), res.status);
  }

  /** The size of `rel` when it exists (HEAD), undefined when it does not (404). */
  async head(rel: string, signal: AbortSignal): Promise<{ size?: number } | undefined> {
    const { res } = await this.request('HEAD', rel, signal);
    if (res.status === 404) return undefined;
    if (!res.ok) throw this.statusError('HEAD', rel, res);
    const len = res.headers.get('content-length');
    return { size: len === null ? undefined : Number(len) };
  }

  /**
   * A small document (a manifest), at most `limit` bytes; undefined on 404. A longer body is an
   * integrity error: a manifest is never that big.
   */
  async getSmall(rel: string, signal: AbortSignal, limit = 1 << 20): Promise<Buffer | undefined> {
    const { res, idle } = await this.request('GET', rel, signal);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw this.statusError('GET', rel, res);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.idleBody(res, idle, `GET ${rel}`)) {
      size += chunk.length;
      if (size > limit) {
        idle.abort();
        throw new CacheError('integrity', `${redactUrl(this.url(rel))}: longer than ${limit} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /**
   * Streams `rel` into `path`, hashing it on the way; stops as soon as it grows past
   * `maxSize`. Throws a {@link CacheError} `http` for a 404 (a manifest naming a missing blob).
   */
  async download(rel: string, path: string, maxSize: number, signal: AbortSignal): Promise<Downloaded> {
    const { res, idle } = await this.request('GET', rel, signal);
    if (!res.ok) {
      await res.body?.cancel();
      throw this.statusError('GET', rel, res);
    }
    const hash = createHash('sha256');
    let size = 0;
    const body = this.idleBody(res, idle, `GET ${rel}`);
    const counted = async function* () {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > maxSize) {
          idle.abort();
          throw new CacheError('integrity', `${rel}: longer than the ${maxSize} bytes its manifest says`);
        }
        hash.update(chunk);
        yield chunk;
      }
    };
    await pipeline(counted, createWriteStream(path), { signal });
    return { sha256: hash.digest('hex'), size };
  }

  /** Uploads the file at `path` to `rel` (PUT, streamed, overwriting). */
  async putFile(rel: string, path: string, signal: AbortSignal): Promise<void> {
    const size = statSync(path).size;
    const body = Readable.toWeb(createReadStream(path, { highWaterMark: 1 << 20 })) as ReadableStream;
    await this.put(rel, body, size, signal);
  }

  /** Uploads `data` to `rel` (PUT, overwriting). */
  async putBytes(rel: string, data: Uint8Array, signal: AbortSignal): Promise<void> {
    await this.put(rel, data, data.length, signal);
  }

  private async put(rel: string, body: ReadableStream | Uint8Array, size: number, signal: AbortSignal): Promise<void> {
    // The header timeout covers the whole upload here (the server answers after the body):
    // allow the body at a modest 2 MB/s on top.
    const headers = { 'content-length': String(size), 'content-type': 'application/octet-stream' };
    const { res } = await this.request('PUT', rel, signal, { body, headers }, this.timeouts.headers + Math.ceil(size / 2_000_000) * 1000);
    await res.body?.cancel();
    if (!res.ok) throw this.statusError('PUT', rel, res);
  }

  /** Deletes `rel` (a 404 is fine). */
  async delete(rel: string, signal: AbortSignal): Promise<void> {
    const { res } = await this.request('DELETE', rel, signal);
    await res.body?.cancel();
    if (!res.ok && res.status !== 404) throw this.statusError('DELETE', rel, res);
  }

  /** The response body as Buffers, aborted when no chunk arrives for the idle timeout. */
  private async *idleBody(res: Response, idle: AbortController, what: string): AsyncGenerator<Buffer> {
    if (!res.body) return;
    let timer = setTimeout(() => idle.abort(new CacheError('timeout', `${what}: stalled for ${this.timeouts.idle / 1000} s`)), this.timeouts.idle);
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(new CacheError('timeout', `${what}: stalled for ${this.timeouts.idle / 1000} s`)), this.timeouts.idle);
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    } catch (e) {
      if (idle.signal.aborted && idle.signal.reason instanceof CacheError) throw idle.signal.reason;
      if (e instanceof CacheError) throw e;
      throw new CacheError('unreachable', `${what}: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
