/**
 * File primitives: atomic writes (temp + fsync + rename + directory fsync), async for the
 * registry and sync for the build stage's small records, and streaming sha256, so a 100 MB+ image
 * is never held in memory and a killed process or a power loss never leaves a half-written file
 * under a real name.
 * @module
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, open, rename, unlink, readdir, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Prefix of temporary files; the registry never serves or publishes dot files. */
export const TMP_PREFIX = '.tmp-';

/** A unique temporary path next to `path` (same folder, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${TMP_PREFIX}${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`);
}

/**
 * Creates `dir` and its missing parents with mode 0755 whatever the umask: under `umask 000`
 * they would be world-writable and any local user could swap `images.json`; under `umask 077`
 * the server, once it dropped root, could not read them. Existing folders are left alone.
 */
export async function mkdirRegistry(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o755 });
  if (!first) return;
  const created: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    created.push(d);
    if (d === first || dirname(d) === d) break;
  }
  for (const d of created) await chmod(d, 0o755);
}

/** fsync a folder, so renames into it survive a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `data` to `path` atomically: readers see the old file or the new one, never a part.
 * @param mode file mode of the new file
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdirRegistry(dirname(path));
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have narrowed it
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/**
 * {@link writeFileAtomic}, synchronously (the build stage's records, lock and toolchain cache):
 * temp file in the same folder, fsync, rename, folder fsync.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}


/**
 * Streams `src` into a temporary file in `destDir` while feeding every hash in `also` and its own
 * sha256; the caller renames the temporary file to its content address.
 * @param check called with the first chunk (format sniffing); throw to refuse the file
 */
export async function copyHashing(
  src: string,
  destDir: string,
  also: Hash[],
  check?: (head: Buffer) => void,
): Promise<{ tmp: string; sha256: string; size: number }> {
  const tmp = join(destDir, `${TMP_PREFIX}ingest.${process.pid}.${randomBytes(6).toString('hex')}`);
  const h = createHash('sha256');
  const inp = await open(src, 'r');
  let out;
  try {
    out = await open(tmp, 'wx', 0o644);
  } catch (e) {
    await inp.close();
    throw e;
  }
  let size = 0;
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await inp.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (size === 0) check?.(chunk);
      h.update(chunk);
      for (const x of also) x.update(chunk);
      let off = 0;
      while (off < chunk.length) off += (await out.write(chunk, off, chunk.length - off)).bytesWritten;
      size += bytesRead;
    }
    if (size === 0) check?.(Buffer.alloc(0));
    await out.chmod(0o644);
    await out.sync();
  } catch (e) {
    await out.close().catch(() => {});
    await inp.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await out.close();
  await inp.close();
  return { tmp, sha256: h.digest('hex'), size };
}

/** Removes temporary files left in `dir` by a killed process (call with the lock held). */
export async function removeTempFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const gone = names.filter((n) => n.startsWith(TMP_PREFIX));
  await Promise.all(gone.map((n) => unlink(join(dir, n)).catch(() => {})));
  return gone;
}

/** True when `path` exists (any type). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
