/**
 * A thin, typed wrapper over the `incus` command line, for the `test` verb and the end-to-end
 * tests. Every call goes through execa with a timeout, and failures carry the command.
 * @module
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/** Result of one incus command. */
export interface IncusResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `incus <args>`; never throws for a non-zero exit (check `code`). */
export async function incus(args: string[], opts: { timeoutMs?: number; input?: string; detached?: boolean } = {}): Promise<IncusResult> {
  // Always give stdin (empty by default): `incus launch`/`init` read a YAML config from a
  // non-terminal stdin and would wait forever on an open pipe.
  const r = await execa('incus', args, {
    reject: false, timeout: opts.timeoutMs ?? 120_000, input: opts.input ?? '', stripFinalNewline: false,
    // Its own process group: a terminal's Ctrl-C does not cut it off half-way (we wait for it).
    detached: opts.detached ?? false,
  });
  return { code: r.exitCode ?? (r.timedOut ? 124 : 1), stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Runs `incus <args>` and throws with the command and its stderr on failure. */
export async function incusOk(args: string[], opts: { timeoutMs?: number; input?: string; detached?: boolean } = {}): Promise<string> {
  const r = await incus(args, opts);
  if (r.code !== 0) throw new Error(`incus ${args.join(' ')} failed with exit code ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Whether the incus client exists and a daemon answers. */
export async function incusAvailable(): Promise<{ ok: boolean; reason?: string }> {
  try {
    const r = await incus(['info'], { timeoutMs: 20_000 });
    return r.code === 0 ? { ok: true } : { ok: false, reason: `incus info failed: ${r.stderr.trim().split('\n')[0]}` };
  } catch {
    return { ok: false, reason: 'the incus client is not installed (run `sudo bash lib/host/setup.sh`)' };
  }
}

/** Where the incus client keeps pinned server certificates. */
export function servercertsDir(env: NodeJS.ProcessEnv = process.env): string {
  const conf = env.INCUS_CONF || join(homedir(), '.config', 'incus');
  return join(conf, 'servercerts');
}

/**
 * Adds a simplestreams remote and pins its certificate (the only trust step that works for
 * simplestreams remotes: `--accept-certificate` does nothing there).
 */
export async function addRemote(name: string, url: string, certPath: string): Promise<void> {
  const dir = servercertsDir();
  mkdirSync(dir, { recursive: true });
  copyFileSync(certPath, join(dir, `${name}.crt`));
  await incusOk(['remote', 'add', name, url, '--protocol', 'simplestreams', '--public']);
  clearRemoteCache(url);
}

/** Removes a remote and its pinned certificate; ignores a remote that is not there. */
export async function removeRemote(name: string, url?: string): Promise<void> {
  await incus(['remote', 'remove', name]);
  rmSync(join(servercertsDir(), `${name}.crt`), { force: true });
  if (url) clearRemoteCache(url);
}

/**
 * Clears the index caches of a remote: the CLI's (5 minutes, ~/.cache/incus) and the daemon's
 * (1 hour, /var/cache/incus), both keyed by sha256 of the remote URL. Without this a freshly
 * published image stays invisible.
 */
export function clearRemoteCache(url: string): void {
  const variants = [url, url.replace(/\/+$/, ''), `${url.replace(/\/+$/, '')}/`];
  for (const base of [join(homedir(), '.cache', 'incus'), '/var/cache/incus', '/var/cache/incus/simplestreams']) {
    if (!existsSync(base)) continue;
    for (const v of variants) {
      const h = createHash('sha256').update(v).digest('hex');
      rmSync(join(base, h), { recursive: true, force: true });
      for (const entry of safeList(base)) if (entry.startsWith(h)) rmSync(join(base, entry), { recursive: true, force: true });
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Launches a container; `config` becomes `-c key=value` pairs. The client runs in its own
 * process group so that an interrupt lets it finish and the caller can delete the container.
 */
export async function launch(image: string, name: string, config: Record<string, string> = {}, timeoutMs = 300_000): Promise<void> {
  const args = ['launch', image, name];
  for (const [k, v] of Object.entries(config)) args.push('-c', `${k}=${v}`);
  await incusOk(args, { timeoutMs, detached: true });
}

/** The fingerprint of the image an instance was created from (`volatile.base_image`), if any. */
export async function baseImageOf(name: string): Promise<string | undefined> {
  const r = await incus(['config', 'get', name, 'volatile.base_image'], { timeoutMs: 30_000 });
  const fp = r.stdout.trim();
  return r.code === 0 && /^[0-9a-f]{64}$/.test(fp) ? fp : undefined;
}

/**
 * Deletes an image from the local store only if Incus cached it from a remote (`cached: true`):
 * an image someone imported or aliased by hand is never touched. Ignores one that is gone.
 */
export async function removeCachedImage(fingerprint: string): Promise<boolean> {
  const r = await incus(['image', 'list', fingerprint, '--format', 'json'], { timeoutMs: 30_000 });
  const images = r.code === 0 ? (JSON.parse(r.stdout || '[]') as Array<{ fingerprint: string; cached?: boolean }>) : [];
  const img = images.find((i) => i.fingerprint === fingerprint);
  if (!img?.cached) return false;
  return (await incus(['image', 'delete', fingerprint], { timeoutMs: 60_000 })).code === 0;
}

/** Whether an instance exists. */
export async function instanceExists(name: string): Promise<boolean> {
  return (await incus(['info', name], { timeoutMs: 30_000 })).code === 0;
}

/** Runs a shell command inside a container (`incus exec NAME -- /bin/sh -c CMD`). */
export async function execIn(name: string, command: string, timeoutMs = 60_000): Promise<IncusResult> {
  return incus(['exec', name, '--', '/bin/sh', '-c', command], { timeoutMs });
}

/**
 * Deletes a container, forcing it; ignores one that is not there. Checks again for a few
 * seconds: a launch operation still finishing in the daemon can create it after a first delete.
 */
export async function deleteInstance(name: string): Promise<void> {
  let absentInARow = 0;
  for (let i = 0; i < 30 && absentInARow < 3; i++) {
    if (await instanceExists(name)) {
      absentInARow = 0;
      await incus(['delete', '--force', name], { timeoutMs: 120_000 });
    } else {
      absentInARow++;
      if (absentInARow < 3) await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** `incus info --show-log NAME`, for failure reports. */
export async function showLog(name: string): Promise<string> {
  const r = await incus(['info', '--show-log', name], { timeoutMs: 30_000 });
  return (r.stdout + r.stderr).trim();
}
