/**
 * The remote cache stage around node execution: before a node runs, look its key up in the
 * cache and, on a hit, install the verified outputs instead of building; after a node is
 * built, upload its outputs (blobs first, skipping those already there, the manifest last).
 *
 * The cache never fails a build: unreachable, slow or refusing, it is a warning and the node is
 * built. Nothing from it is used before it verified: the manifest's shape, key and names
 * ({@link parseManifest}), every blob's sha256 and size, an image's build.json naming the key
 * asked for. A blob that does not verify is named in a warning, discarded, the node built, and
 * the blob uploaded again (PUT overwrites it).
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import PQueue from 'p-queue';
import { privilegePrefix } from '../validate/distrobuilder.ts';
import { safeRemove } from '../graph/fsutil.ts';
import { formatBytes } from '../format.ts';
import type { Hash } from '../graph/hash.ts';
import type { NodePlan } from '../graph/node-plan.ts';
import { nodeSlug, outDir, targetSlug, treeDir } from '../graph/paths.ts';
import type { TargetPlan } from '../graph/plan.ts';
import { IMAGE_LOGIC_VERSION } from '../graph/options.ts';
import { NODE_RECORD_FORMAT, RECORD_FORMAT, writeRecord, type NodeRecord, type NodeRef, type TargetRecord } from '../graph/record.ts';
import type { RunContext } from '../graph/tree-node.ts';
import { CacheError, CacheHttp, redactUrl, type HttpTimeouts } from './http.ts';
import { signDetached, verifyDetached, type PublicKey, type SecretKey } from '../trust/minisign.ts';
import { blobPath, manifestPath, MANIFEST_FORMAT, ManifestError, parseManifest, type Manifest, type ManifestFile } from './manifest.ts';

/** Where the cache is and what this run may do with it. */
export interface CacheSettings {
  /** Base URL (`http://cache.lan:8080/appliances/`); user:password in it is sent as Basic auth. */
  url: string;
  /** Look up and fetch, never upload. */
  readOnly?: boolean;
  timeouts?: Partial<HttpTimeouts>;
  /**
   * Verify every manifest's signature (`manifests/<key>.json.minisig`) with this key: an
   * unsigned or badly signed entry is not used (`cache.publicKey`, `APPLIANCE_CACHE_PUBKEY`).
   */
  publicKey?: PublicKey;
  /** Sign the manifests this run uploads (the project's signing key, when there is one). */
  signingKey?: SecretKey;
}

/** A node installed from the cache. */
export interface Fetched<R> {
  record: R;
  ms: number;
  bytes: number;
}

/** sha256 (hex) and size of a file, streamed. */
export async function fileSha256(path: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** Runs a command as root (through `sudo -n` when we are not): trees hold root's files. */
async function asRoot(args: string[], signal: AbortSignal): Promise<string | undefined> {
  const [cmd, ...rest] = [...privilegePrefix(), ...args];
  const r = await execa(cmd, rest, { reject: false, cancelSignal: signal, stdin: 'ignore' });
  return r.exitCode === 0 ? undefined : `${args[0]} failed: ${r.stderr.split('\n')[0] || `exit code ${r.exitCode}`}`;
}

const TAR_FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*'];

/**
 * Why fetched image files do not belong together, or undefined: its build.json must name this
 * target and key, and, when attested, the Incus fingerprint (sha256 of metadata then rootfs)
 * must be the one build.json and the manifest state: files of several entries mixed by a
 * tampered manifest each verify alone, but not together.
 */
async function imageProblem(out: string, target: string, hash: Hash, m: Manifest & { kind: 'image' }, signal: AbortSignal): Promise<string | undefined> {
  let build: { hash?: unknown; target?: unknown; metadata?: unknown; rootfs?: unknown; attestation?: { fingerprint?: unknown } };
  try {
    build = JSON.parse(readFileSync(join(out, 'build.json'), 'utf8'));
  } catch {
    return 'build.json is not JSON';
  }
  if (build.hash !== hash || build.target !== target) return `build.json is of ${JSON.stringify(build.target)}, key ${JSON.stringify(build.hash)}`;
  const fp = build.attestation?.fingerprint;
  if (fp !== m.image.attestation?.fingerprint) return 'the manifest and build.json state different fingerprints';
  if (typeof fp !== 'string' || typeof build.metadata !== 'string' || typeof build.rootfs !== 'string') return undefined;
  const h = createHash('sha256');
  for (const f of [build.metadata, build.rootfs]) {
    if (!m.files.some((x) => x.name === f)) return `build.json names ${f}, which the manifest does not list`;
    for await (const chunk of createReadStream(join(out, f), { highWaterMark: 1 << 20, signal })) h.update(chunk as Buffer);
  }
  const got = h.digest('hex');
  return got === fp ? undefined : `fingerprint ${got} of ${build.metadata} + ${build.rootfs} is not ${fp}`;
}

/** The trusted comment of a manifest's signature: binds it to the node and key it was made for. */
function signedComment(node: string, hash: Hash): string {
  return `appliance cache manifest ${node} ${hash}`;
}

/** The remote cache of one build run. */
export class RemoteCache {
  private http: CacheHttp;
  private publicKey?: PublicKey;
  private signingKey?: SecretKey;
  /** Set once the cache proved unreachable: no more requests this run. */
  private off?: string;
  private readOnly: boolean;
  /** Digests that failed verification this run: uploaded again even though HEAD finds them. */
  private bad = new Set<string>();
  private uploads = new PQueue({ concurrency: 1 });
  /** For messages: the URL without credentials. */
  readonly where: string;

  /**
   * @param age `--max-age` (an entry on an older base is not used) and `force` (`--force`: the
   *   targets' own layers are rebuilt, never fetched; what is built is still uploaded)
   */
  constructor(settings: CacheSettings, private rc: RunContext, private age: { maxAgeMs?: number; nowMs: number; force?: boolean } = { nowMs: Date.now() }) {
    this.http = new CacheHttp(settings.url, settings.timeouts);
    this.readOnly = !!settings.readOnly;
    this.where = redactUrl(this.http.base);
    this.publicKey = settings.publicKey;
    this.signingKey = settings.signingKey;
  }

  private warn(message: string): void {
    this.rc.emit({ type: 'warning', message: `cache: ${message}` });
  }

  /** A failure of the cache itself: unreachable or refused turns it off (or read-only), once. */
  private trouble(e: unknown, what: string): void {
    if (!(e instanceof CacheError)) throw e;
    if (e.kind === 'unreachable' || e.kind === 'timeout') {
      if (!this.off) this.warn(`${this.where} unreachable (${e.message}): building without the cache from now on`);
      this.off = e.message;
    } else if (e.kind === 'forbidden' && what === 'upload') {
      if (!this.readOnly) this.warn(`${e.message}: no permission to upload; continuing read-only`);
      this.readOnly = true;
    } else if (e.kind === 'forbidden') {
      if (!this.off) this.warn(`${e.message}: no permission to read; building without the cache`);
      this.off = e.message;
    } else this.warn(`${what}: ${e.message}`);
  }

  /** The manifest of `node` with key `hash`, checked; undefined on a miss or any trouble. */
  private async manifest(node: string, hash: Hash, kind: Manifest['kind']): Promise<Manifest | undefined> {
    if (this.off || this.rc.signal.aborted) return undefined;
    let text: Buffer | undefined;
    try {
      text = await this.http.getSmall(manifestPath(hash), this.rc.signal);
    } catch (e) {
      if (this.rc.signal.aborted) return undefined;
      this.trouble(e, `lookup of ${node}`);
      return undefined;
    }
    if (!text) return undefined;
    if (this.publicKey) {
      const unsigned = await this.signatureProblem(text, hash, node);
      if (unsigned) {
        if (unsigned !== 'interrupted') this.warn(`manifest of ${node} (${manifestPath(hash)}) is not trusted: ${unsigned}; building ${node}`);
        return undefined;
      }
    }
    try {
      return parseManifest(text, { node, hash, kind });
    } catch (e) {
      if (!(e instanceof ManifestError)) throw e;
      this.warn(`manifest of ${node} (${manifestPath(hash)}) is not trusted: ${e.message}; building ${node}`);
      return undefined;
    }
  }

  /** Why the manifest's signature does not verify with the configured public key, or undefined. */
  private async signatureProblem(text: Buffer, hash: Hash, node: string): Promise<string | undefined> {
    let sig: Buffer | undefined;
    try {
      sig = await this.http.getSmall(`${manifestPath(hash)}.minisig`, this.rc.signal, 4096);
    } catch (e) {
      if (this.rc.signal.aborted) return 'interrupted';
      if (!(e instanceof CacheError)) throw e;
      return `its signature could not be read (${e.message})`;
    }
    if (!sig) return 'it is not signed, and a public key is configured';
    const v = verifyDetached(text, sig.toString('utf8'), this.publicKey!);
    if (!v.ok) return `signature: ${v.problem}`;
    return v.trustedComment === signedComment(node, hash) ? undefined : `signature: signed for "${v.trustedComment}", not for ${node}`;
  }

  /**
   * Downloads the files of `m` into `dir`, each checked against its sha256 and size. Undefined
   * when one does not verify (warned, naming the blob) or the download failed.
   */
  private async download(m: Manifest, dir: string): Promise<number | undefined> {
    let bytes = 0;
    for (const f of m.files) {
      let got: { sha256: string; size: number };
      try {
        got = await this.http.download(blobPath(f.sha256), join(dir, f.name), f.size, this.rc.signal);
      } catch (e) {
        if (this.rc.signal.aborted) return undefined;
        if (e instanceof CacheError && e.kind === 'integrity') {
          this.bad.add(f.sha256);
          this.warn(`blob sha256:${f.sha256} (${f.name} of ${m.node}) does not verify: ${e.message}; discarded, building ${m.node}`);
        } else if (e instanceof CacheError && e.status === 404) this.warn(`blob sha256:${f.sha256} (${f.name} of ${m.node}) is missing; building ${m.node}`);
        else this.trouble(e, `download of ${m.node}`);
        return undefined;
      }
      if (got.sha256 !== f.sha256 || got.size !== f.size) {
        this.bad.add(f.sha256);
        this.warn(`blob sha256:${f.sha256} (${f.name} of ${m.node}) does not verify: got sha256:${got.sha256}, ${got.size} bytes (manifest: ${f.size}); discarded, building ${m.node}`);
        return undefined;
      }
      bytes += got.size;
    }
    return bytes;
  }

  /** Why an entry made on `ref` cannot stand for node `n` of this plan, or undefined. */
  private refProblem(n: NodePlan, ref: NodeRef): string | undefined {
    if (ref.hash !== n.hash) return `built on ${ref.node} with another key`;
    const local = n.record && n.record.hash === n.hash ? n.record : undefined;
    if (n.kind === 'base' && this.age.maxAgeMs !== undefined && this.age.nowMs - Date.parse(ref.refreshedAt) > this.age.maxAgeMs) return `its ${n.node} is older than --max-age`;
    if (!local) return undefined;
    // A local tree of the same key: the entry must be made on that very snapshot, or on a
    // newer one when this run refreshes the node on purpose (--max-age).
    if (n.status === 'stale' && n.refresh) return Date.parse(ref.refreshedAt) > Date.parse(local.refreshedAt) ? undefined : `${n.node} is being refreshed and the entry is not newer`;
    return ref.refreshedAt === local.refreshedAt ? undefined : `built on another snapshot of ${n.node} (${ref.refreshedAt}) than the local one (${local.refreshedAt})`;
  }

  /**
   * Looks up tree node `n` and installs it on a verified hit: the tarball unpacked as root into
   * a fresh tree under `.cache/tmp/`, then moved into `.cache/trees/` and recorded. Undefined on
   * a miss or any problem (the node is then built).
   */
  async fetchTree(n: NodePlan): Promise<Fetched<NodeRecord> | undefined> {
    const started = Date.now();
    if (this.age.force && n.kind === 'packages') return undefined;
    const m = await this.manifest(n.node, n.hash, n.kind);
    if (!m || !('tree' in m)) return undefined;
    const problem = this.refProblem(n, { node: n.node, hash: m.hash, refreshedAt: m.tree.refreshedAt })
      ?? (m.tree.parent && n.parent ? this.refProblem(n.parent, m.tree.parent) : undefined);
    if (problem) {
      this.rc.emit({ type: 'info', message: `${n.node}: cache entry not used (${problem})` });
      return undefined;
    }
    const p = this.rc.paths;
    for (const d of [p.tmp, p.trees]) mkdirSync(d, { recursive: true });
    const tmp = mkdtempSync(join(p.tmp, `${nodeSlug(n.node)}.cache.`));
    try {
      this.rc.emit({ type: 'stage', target: n.node, stage: `fetching from the cache (${formatBytes(m.files[0].size)})` });
      const bytes = await this.download(m, tmp);
      if (bytes === undefined) return undefined;
      const tree = join(tmp, 'tree');
      mkdirSync(join(tree, 'rootfs'), { recursive: true });
      this.rc.emit({ type: 'stage', target: n.node, stage: 'unpacking the tree' });
      const failed = await asRoot(['tar', ...TAR_FLAGS, '-xf', join(tmp, 'rootfs.tar'), '-C', join(tree, 'rootfs')], this.rc.signal);
      if (failed) {
        if (!this.rc.signal.aborted) this.warn(`${n.node}: unpacking the fetched tree failed (${failed}); building it`);
        return undefined;
      }
      // A base keeps its tarball: the layers on it start from it.
      if (n.kind === 'base') renameSync(join(tmp, 'rootfs.tar'), join(tree, 'rootfs.tar'));
      if (this.rc.signal.aborted) return undefined;
      const now = new Date().toISOString();
      const record: NodeRecord = {
        format: NODE_RECORD_FORMAT, node: n.node, kind: n.kind, arch: n.arch, hash: n.hash, key: n.key, tree: n.hash, context: this.rc.context,
        builtAt: m.tree.builtAt, refreshedAt: m.tree.refreshedAt, durationMs: m.tree.durationMs, distrobuilder: m.tree.distrobuilder,
        ...(m.tree.parent ? { parent: m.tree.parent } : {}), fetchedAt: now,
      };
      const { placeTree } = await import('../graph/tree-node.ts');
      placeTree(p, n, tree, tmp, record);
      return { record, ms: Date.now() - started, bytes };
    } finally {
      safeRemove(tmp);
    }
  }

  /**
   * Looks up stale target `tp`'s image and installs it on a verified hit, without its trees:
   * the files into `.cache/out/<name>-<arch>/`, then its record. Undefined on a miss or any
   * problem (the target is then built).
   */
  async fetchImage(tp: TargetPlan): Promise<Fetched<TargetRecord> | undefined> {
    const started = Date.now();
    const c = tp.compiled;
    if (!c || this.age.force) return undefined;
    const m = await this.manifest(tp.target, c.hash, 'image');
    if (!m || !('image' in m)) return undefined;
    const problem = (tp.chain ?? []).map((n) => {
      const ref = m.image.chain.find((r) => r.node === n.node);
      return ref ? this.refProblem(n, ref) : `it does not name ${n.node}`;
    }).find(Boolean);
    if (problem) {
      this.rc.emit({ type: 'info', message: `${tp.target}: cache entry not used (${problem})` });
      return undefined;
    }
    const p = this.rc.paths;
    for (const d of [p.tmp, p.out]) mkdirSync(d, { recursive: true });
    const tmp = mkdtempSync(join(p.tmp, `${targetSlug(tp.target)}.cache.`));
    try {
      const out = join(tmp, 'out');
      mkdirSync(out);
      this.rc.emit({ type: 'stage', target: tp.target, stage: `fetching from the cache (${formatBytes(m.files.reduce((s, f) => s + f.size, 0))})` });
      const bytes = await this.download(m, out);
      if (bytes === undefined || this.rc.signal.aborted) return undefined;
      // The image's own statement of what it is must agree with the manifest.
      const mismatch = await imageProblem(out, tp.target, c.hash, m, this.rc.signal);
      if (mismatch) {
        if (!this.rc.signal.aborted) this.warn(`${tp.target}: the fetched image is not trusted (${mismatch}); building it`);
        return undefined;
      }
      const final = outDir(p, tp.target);
      if (existsSync(final)) renameSync(final, join(tmp, 'previous'));
      renameSync(out, final);
      const { outputStats } = await import('../graph/image-node.ts');
      const record: TargetRecord = {
        format: RECORD_FORMAT, target: tp.target, name: tp.name, arch: tp.arch, hash: c.hash, builder: IMAGE_LOGIC_VERSION,
        distrobuilder: m.image.distrobuilder, options: { ...this.rc.options }, context: this.rc.context, inputs: c.inputs, appliance: c.meta,
        outputs: outputStats(final), builtAt: m.image.builtAt, durationMs: m.image.durationMs, indexed: false, chain: m.image.chain,
        ...(m.image.attestation ? { attestation: m.image.attestation } : {}), fetchedAt: new Date().toISOString(),
      };
      writeRecord(p, record, c.keyFile);
      return { record, ms: Date.now() - started, bytes };
    } finally {
      safeRemove(tmp);
    }
  }

  /** Queues the upload of a tree node just built (no-op when read-only or off). */
  storeTree(n: NodePlan, record: NodeRecord): void {
    if (this.readOnly || this.off) return;
    void this.uploads.add(async () => {
      const p = this.rc.paths;
      const tree = treeDir(p, record.tree);
      let tmp: string | undefined;
      try {
        let tar = join(tree, 'rootfs.tar');
        if (n.kind !== 'base') {
          // A packages layer keeps no tarball of its own: make one for the upload only.
          mkdirSync(p.tmp, { recursive: true });
          tmp = mkdtempSync(join(p.tmp, `${nodeSlug(n.node)}.upload.`));
          tar = join(tmp, 'rootfs.tar');
          const failed = await asRoot(['tar', ...TAR_FLAGS, '-C', join(tree, 'rootfs'), '-cf', tar, '.'], this.rc.signal);
          if (failed) return void (this.rc.signal.aborted || this.warn(`${n.node}: not uploaded (${failed})`));
        }
        await this.upload({
          format: MANIFEST_FORMAT, node: n.node, hash: n.hash, kind: n.kind, uploadedAt: '', files: [],
          tree: { builtAt: record.builtAt, refreshedAt: record.refreshedAt, durationMs: record.durationMs, distrobuilder: record.distrobuilder, ...(record.parent ? { parent: record.parent } : {}) },
        }, [{ name: 'rootfs.tar', path: tar }]);
      } finally {
        if (tmp) safeRemove(tmp);
      }
    });
  }

  /** Queues the upload of an image just built (no-op when read-only or off). */
  storeImage(rec: TargetRecord): void {
    if (this.readOnly || this.off) return;
    const dir = outDir(this.rc.paths, rec.target);
    void this.uploads.add(() => this.upload({
      format: MANIFEST_FORMAT, node: rec.target, hash: rec.hash, kind: 'image', uploadedAt: '', files: [],
      image: { builtAt: rec.builtAt, durationMs: rec.durationMs, distrobuilder: rec.distrobuilder, chain: rec.chain ?? [], ...(rec.attestation ? { attestation: rec.attestation } : {}) },
    }, Object.keys(rec.outputs).sort().map((name) => ({ name, path: join(dir, name) }))));
  }

  /** Uploads the blobs of a node (those not there yet, or found bad), then its manifest. */
  private async upload(m: Manifest, files: Array<{ name: string; path: string }>): Promise<void> {
    if (this.readOnly || this.off || this.rc.signal.aborted) return;
    const signal = this.rc.signal;
    try {
      const listed: ManifestFile[] = [];
      for (const f of files) {
        const { sha256, size } = await fileSha256(f.path, signal);
        listed.push({ name: f.name, sha256, size });
        const there = this.bad.has(sha256) ? undefined : await this.http.head(blobPath(sha256), signal);
        // A blob of another size is a broken upload of someone else's: overwrite it.
        if (there && there.size === size) continue;
        await this.http.putFile(blobPath(sha256), f.path, signal);
        this.bad.delete(sha256);
      }
      const manifest: Manifest = { ...m, files: listed, uploadedAt: new Date().toISOString() };
      const bytes = Buffer.from(JSON.stringify(manifest, null, 1) + '\n');
      // The signature before the manifest: a reader never sees a new manifest without it.
      if (this.signingKey) await this.http.putBytes(`${manifestPath(m.hash)}.minisig`, Buffer.from(signDetached(bytes, this.signingKey, signedComment(m.node, m.hash), 'signature of an appliance cache manifest')), signal);
      await this.http.putBytes(manifestPath(m.hash), bytes, signal);
      this.rc.emit({ type: 'info', message: `${m.node}: uploaded to the cache (${formatBytes(listed.reduce((s, f) => s + f.size, 0))})` });
    } catch (e) {
      if (signal.aborted) return;
      this.trouble(e, 'upload');
    }
  }

  /** Waits for the queued uploads. */
  async flush(): Promise<void> {
    await this.uploads.onIdle();
  }
}

