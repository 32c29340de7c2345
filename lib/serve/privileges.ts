/**
 * Least privilege for `serve`: the private key must stay out of the served folder, and a server
 * started as root (as the Quick start does, for the host setup) gives root up once it has bound
 * its port and read its key: it only needs to read world-readable registry files after that.
 * @module
 */
import { constants, readdirSync, readFileSync } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { execa } from 'execa';
import type { FileIdentity } from './static.ts';
import { UserError } from '../diagnostics.ts';

/** An expected refusal to start (bad layout, unknown user, unreadable registry): a message, no stack. */
export class ServeSetupError extends UserError {
  override name = 'ServeSetupError';
}

/** A user to run as. */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/** Looks a user up through NSS (`id`), so LDAP and friends work too. */
export async function lookupUser(name: string): Promise<RunAs> {
  const id = async (flag: string) => {
    const r = await execa('id', [flag, name], { reject: false });
    if (r.exitCode !== 0 || !/^\d+$/.test(String(r.stdout).trim())) throw new ServeSetupError(`--user ${name}: no such user on this machine`);
    return Number(String(r.stdout).trim());
  };
  return { name, uid: await id('-u'), gid: await id('-g') };
}

/** True when this process runs as root (and could drop to another user). */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Becomes `who` for good (supplementary groups, group, then user: the order matters, a process
 * that already gave up root can no longer change its groups). Checks that root cannot be taken
 * back. Call only after every privileged step (binding, reading the key) is done.
 */
export function dropPrivileges(who: RunAs): void {
  if (!isRoot() || who.uid === 0) return;
  stopLoaderHelpers();
  process.setgroups!([who.gid]);
  process.setgid!(who.gid);
  process.setuid!(who.uid);
  let regained = true;
  try {
    process.setuid!(0);
  } catch {
    regained = false;
  }
  if (regained) throw new Error(`dropping privileges to ${who.name} failed: setuid(0) still succeeds`);
}

/** Child processes of this process (of every thread: the module loader runs in its own). */
function childPids(): number[] {
  try {
    return readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return []; // no /proc: nothing we can find
  }
}

/**
 * Stops the TypeScript loader's esbuild service (started by tsx while we were root): left
 * running it would stay a root process for the server's lifetime, taking requests from ours
 * over a pipe (esbuild can write files). tsx starts a new one, as the new user, if it needs one.
 * Must run while still root: an unprivileged process cannot signal a root one.
 */
function stopLoaderHelpers(): void {
  for (const pid of childPids()) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'esbuild') process.kill(pid, 'SIGTERM');
    } catch { /* already gone */ }
  }
}

/**
 * After dropping privileges: the registry must still be readable, else every request would be
 * a silent 404. Typical cause: the project lives under /root (mode 0700).
 */
export async function assertReadable(registryDir: string, who: RunAs): Promise<void> {
  try {
    await access(registryDir, constants.R_OK | constants.X_OK);
  } catch {
    throw new ServeSetupError(`${registryDir} is not readable by user ${who.name} (uid ${who.uid}), whom serve runs as after giving up root: ` +
      `make it and its parent folders world-readable (chmod o+rx), or pass --user with a user who can read it`);
  }
}

/** The real path of `p`, or of its nearest existing ancestor joined with the rest (paths not created yet). */
async function realpathish(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : resolve(await realpathish(parent), abs.slice(parent.length + 1));
  }
}

const inside = (root: string, p: string) => p === root || p.startsWith(root + sep);

/**
 * Refuses a certificate folder or key file inside the served folder (its real path, symlinks
 * resolved), where a request could fetch the key. Checked before a key is generated there.
 */
export async function assertKeyOutside(registryDir: string, paths: { certDir?: string; key?: string }): Promise<void> {
  const root = await realpathish(registryDir);
  for (const [what, p] of [['the certificate folder', paths.certDir], ['the private key', paths.key]] as const) {
    if (p && inside(root, await realpathish(p))) {
      throw new ServeSetupError(`${what} ${p} is inside the served folder ${registryDir}: clients could download the private key; keep it outside (--cert-dir DIR)`);
    }
  }
}

/** The identity of the key file, for the static handler's deny list (covers hard links and bind mounts). */
export async function identityOf(path: string): Promise<FileIdentity> {
  const st = await stat(path, { bigint: true });
  return { dev: st.dev, ino: st.ino };
}
