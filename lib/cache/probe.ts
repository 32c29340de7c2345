/**
 * What `doctor` says of the remote cache: reachable (a lookup answers), writable (a probe object
 * PUT, read back and DELETEd).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { CacheError, CacheHttp, redactUrl } from './http.ts';
import type { CacheSettings } from './stage.ts';

/** The cache as `doctor` sees it. */
export interface CacheProbe {
  url: string;
  readOnly: boolean;
  /** `yes`, or why not. */
  reachable: string;
  /** `yes`, `not checked (read-only)`, or why not. */
  writable: string;
}

const why = (e: unknown) => (e instanceof CacheError ? e.message : `${(e as Error).message}`);

/** Probes the cache; never throws for the cache's own failures. */
export async function probeCache(s: CacheSettings, signal: AbortSignal): Promise<CacheProbe> {
  const http = new CacheHttp(s.url, { headers: 10_000, idle: 10_000, ...s.timeouts });
  const res: CacheProbe = { url: redactUrl(http.base), readOnly: !!s.readOnly, reachable: 'yes', writable: s.readOnly ? 'not checked (read-only)' : 'yes' };
  try {
    // A manifest that cannot exist: 404 (or 200) proves lookups work.
    await http.head('manifests/doctor-probe.json', signal);
  } catch (e) {
    res.reachable = `NO: ${why(e)}`;
    res.writable = 'not checked';
    return res;
  }
  if (s.readOnly) return res;
  const rel = `doctor/probe-${randomBytes(6).toString('hex')}`;
  const body = Buffer.from(`doctor probe ${new Date().toISOString()}\n`);
  try {
    await http.putBytes(rel, body, signal);
    const back = await http.getSmall(rel, signal, 4096);
    if (!back || !back.equals(body)) res.writable = 'NO: the probe object read back differs (a PUT that does not store?)';
  } catch (e) {
    res.writable = `NO: ${why(e)}`;
  }
  try {
    await http.delete(rel, signal);
  } catch (e) {
    if (res.writable === 'yes') res.writable = `yes, but DELETE of the probe failed: ${why(e)}`;
  }
  return res;
}
