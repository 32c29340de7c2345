/**
 * Input files of targets: stat fingerprints (size, mtime, inode) and content hashes, ninja
 * style: a file whose stat matches the record is not re-read; and the module graph of an
 * appliance (its appliance.ts, the local modules it imports transitively, and the compiler's
 * own modules), listed by esbuild's metafile without executing anything.
 * @module
 */
import { statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative } from 'node:path';
import { hashFile, type Hash } from './hash.ts';
import type { InputKind, InputStat, TargetRecord } from './record.ts';

/** A file modified less than this before it was hashed is "racy": its stat is not trusted later. */
const RACY_MS = 2000;

/**
 * Prefix of an input that is an installed package's file, named by its package specifier
 * (`package:yaml/package.json`) rather than a path: Node's resolver finds it (the checkout's
 * node_modules may be a parent folder's or a symlink), and the record never holds a path that
 * depends on where the checkout is.
 */
export const PACKAGE_INPUT = 'package:';

const require = createRequire(import.meta.url);

/** The absolute path of an input: a package file through Node's resolver, else under the root; undefined when it does not resolve. */
function inputPath(root: string, rel: string): string | undefined {
  if (!rel.startsWith(PACKAGE_INPUT)) return join(root, rel);
  try {
    return require.resolve(rel.slice(PACKAGE_INPUT.length));
  } catch {
    // Not installed: the input is missing, like a deleted file (left out of the record).
    return undefined;
  }
}

/** Stats and hashes of files, memoised for one run. */
export class InputCache {
  private stats = new Map<string, Stats | null>();
  private hashes = new Map<string, Promise<Hash>>();
  /** Known (size, mtime, ino) -> hash from the records, by relative path. */
  private known = new Map<string, InputStat>();

  constructor(readonly root: string) {}

  /** Learns the recorded fingerprints of every record (the most recent wins). */
  learn(records: Iterable<TargetRecord>): void {
    for (const r of records) for (const [p, s] of Object.entries(r.inputs)) if (!s.racy) this.known.set(p, s);
  }

  /** stat() of an input (a path relative to the root, or a {@link PACKAGE_INPUT}), memoised; null when missing. */
  stat(rel: string): Stats | null {
    let s = this.stats.get(rel);
    if (s === undefined) {
      const abs = inputPath(this.root, rel);
      s = abs ? statSync(abs, { throwIfNoEntry: false }) ?? null : null;
      this.stats.set(rel, s);
    }
    return s;
  }

  /** True when the file's stat equals the recorded one (and the record did not mark it racy). */
  unchanged(rel: string, rec: InputStat): boolean {
    if (rec.racy) return false;
    const s = this.stat(rel);
    return !!s && s.isFile() && s.size === rec.size && s.mtimeMs === rec.mtimeMs && s.ino === rec.ino;
  }

  /** Fingerprint of one input: the recorded hash when the stat is unchanged, else a fresh hash. */
  async fingerprint(rel: string, kind: InputKind): Promise<InputStat | undefined> {
    const s = this.stat(rel);
    if (!s || !s.isFile()) return undefined;
    const k = this.known.get(rel);
    let hash: Hash;
    if (k && k.size === s.size && k.mtimeMs === s.mtimeMs && k.ino === s.ino) hash = k.hash;
    else {
      let h = this.hashes.get(rel);
      if (!h) {
        h = hashFile(inputPath(this.root, rel)!);
        this.hashes.set(rel, h);
      }
      hash = await h;
    }
    const racy = Date.now() - s.mtimeMs < RACY_MS;
    return { kind, size: s.size, mtimeMs: s.mtimeMs, ino: s.ino, hash, ...(racy ? { racy: true } : {}) };
  }

  /** Fingerprints of many inputs, keyed by relative path (missing files are left out). */
  async fingerprints(inputs: Array<{ rel: string; kind: InputKind }>): Promise<Record<string, InputStat>> {
    const out: Record<string, InputStat> = {};
    const done = await Promise.all(inputs.map(async (i) => [i.rel, await this.fingerprint(i.rel, i.kind)] as const));
    for (const [rel, s] of done.sort((a, b) => a[0].localeCompare(b[0]))) if (s) out[rel] = s;
    return out;
  }
}

/**
 * Local modules each entry point imports transitively (including itself), as paths relative to
 * `root`, from one esbuild bundle pass with a metafile (no code runs, node_modules stay out).
 * An entry that fails to bundle (syntax error, missing import) maps to an error message.
 */
export async function moduleGraphs(root: string, entries: string[]): Promise<Map<string, string[] | { error: string }>> {
  const esbuild = await import('esbuild');
  const rels = [...new Set(entries.map((e) => (isAbsolute(e) ? relative(root, e) : e)))];
  const result = new Map<string, string[] | { error: string }>();
  const run = async (batch: string[]) => {
    const r = await esbuild.build({
      entryPoints: batch,
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      outdir: join(root, '.cache', 'esbuild-unused'),
      logLevel: 'silent',
    });
    for (const out of Object.values(r.metafile.outputs)) {
      if (out.entryPoint) result.set(out.entryPoint, Object.keys(out.inputs).filter((p) => !p.startsWith('node_modules/') && !p.includes(':')).sort());
    }
  };
  if (rels.length === 0) return result;
  try {
    await run(rels);
  } catch {
    // One broken module fails the batch: retry one by one to isolate it.
    await Promise.all(rels.map(async (e) => {
      try {
        await run([e]);
      } catch (err) {
        const first = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors?.[0];
        result.set(e, { error: first ? `${first.location ? `${first.location.file}:${first.location.line}: ` : ''}${first.text}` : String(err) });
      }
    }));
  }
  return result;
}
