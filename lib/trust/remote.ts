/**
 * A registry read over HTTPS (or HTTP) for `verify URL`: the index files are fetched whole,
 * image files streamed through their hashes and never stored. A self-signed server is trusted
 * through `--ca` (the PEM `serve` printed), like the Incus client's servercerts/.
 * @module
 */
import type { Hash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { RegistrySource } from '../registry/verify.ts';
import { RegistryError } from '../registry/format.ts';

/** How long one request may go without a byte. */
const IDLE_MS = 60_000;

function get(url: URL, ca: string | undefined, signal: AbortSignal | undefined, onBody: (res: http.IncomingMessage) => Promise<void>): Promise<number> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.get(url, { ...(ca && url.protocol === 'https:' ? { ca } : {}), signal, timeout: IDLE_MS }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        res.resume();
        return resolve(status);
      }
      onBody(res).then(() => resolve(200), reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${IDLE_MS / 1000} s`)));
    req.on('error', reject);
  });
}

/** A registry at `base` (`https://host:8443` or a published folder's URL). */
export function remoteSource(base: string, opts: { ca?: string; signal?: AbortSignal } = {}): RegistrySource {
  const root = base.endsWith('/') ? base : base + '/';
  // Checked once here: a URL the user typed wrong is their mistake, not a TypeError at the first read.
  if (!URL.canParse(root)) throw new RegistryError(`${base}: not a valid URL`);
  const urlOf = (rel: string) => new URL(rel, root);
  const failure = (rel: string, e: unknown) => `${urlOf(rel)}: ${(e as Error).message}`;
  return {
    where: base,
    async read(rel) {
      let body: Buffer | undefined;
      let status: number;
      try {
        status = await get(urlOf(rel), opts.ca, opts.signal, async (res) => {
          const chunks: Buffer[] = [];
          for await (const c of res) chunks.push(c as Buffer);
          body = Buffer.concat(chunks);
        });
      } catch (e) {
        throw new RegistryError(failure(rel, e));
      }
      if (status === 404) return undefined;
      if (status !== 200) throw new RegistryError(`${urlOf(rel)}: HTTP ${status}`);
      return body;
    },
    async stream(rel, hashes: Hash[]) {
      if (rel.startsWith('/') || rel.split('/').includes('..')) return { problem: 'path leaves the registry' };
      let size = 0;
      try {
        const status = await get(urlOf(rel), opts.ca, opts.signal, async (res) => {
          for await (const c of res) {
            for (const h of hashes) h.update(c as Buffer);
            size += (c as Buffer).length;
          }
        });
        if (status === 404) return { problem: 'missing' };
        if (status !== 200) return { problem: `HTTP ${status}` };
      } catch (e) {
        return { problem: (e as Error).message };
      }
      return { size };
    },
  };
}
