/**
 * The builder's tree cache: one Incus custom storage volume per builder remote (marked with
 * {@link VOLUME_MARK}), attached to every builder container at {@link MOUNT}, holding root trees
 * by content key, so a base pushed or built once is not shipped in again for every layer on it
 * (docs/scale.md, "The tree cache volume").
 *
 * An entry is `trees/<key>/rootfs.tar` plus `trees/<key>/sha256`, the tarball's checksum
 * recorded when it was written. An entry is made in a folder of its own (`trees/.tmp-<container>`)
 * and renamed into place complete, so two containers writing the same key at once cannot mix
 * their files (the second rename fails and its copy is dropped), and a reader never sees half
 * an entry. An entry is used only when its tarball's sha256 equals the recorded one; one that
 * does not is removed.
 *
 * Every path of the scripts here is written `"$R"/...`: `R` is unset in a real container, and
 * the test's fake incus sets it to the folder standing for the container's root.
 * @module
 */
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';

/** Where the volume is mounted in builder containers. */
export const MOUNT = '/var/cache/appliance-registry';
/** The device name of the volume in builder containers. */
export const DEVICE = 'appliance-trees';
/** The config key that marks a volume as this project's tree cache. */
export const VOLUME_MARK = 'user.appliance-registry.trees';

/**
 * A tree the run reads that the volume may hold: `path` (a host path the run reads) is the tree
 * `key`'s tarball or folder. `sha256`: the tree is recorded as left in the volume with this
 * checksum (there is no copy on this host): an entry with another one is not used.
 */
export interface TreeInput { path: string; key: string; form: 'tar' | 'tree'; sha256?: string }

/** The volume, once it is known to exist and be ours. */
export interface TreeVolume { pool: string; name: string }

/** Quotes one word for bash. */
export function q(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A path inside the container, for a script (prefixed with "$R"). */
const at = (p: string) => `"$R"${q(p)}`;
const entry = (key: string) => `${MOUNT}/trees/${key}`;
const TAR = `tar --numeric-owner --xattrs --xattrs-include='*'`;
/** First line of every script: R is unset in a real container (and `set -u` would refuse it). */
const PRELUDE = 'R="${R:-}"';

/**
 * Makes sure the volume exists on the remote's pool and is ours; returns it, or why it cannot
 * be used (then the builder pushes every input, as without a volume).
 * `incus` runs `incus` with the builder's project; `remote` is the remote's name.
 */
export async function ensureVolume(incus: (a: string[]) => Promise<{ ok: boolean; out: string; err: string }>, remote: string, name: string): Promise<TreeVolume | string> {
  // Through the project-aware subcommands, not `incus query`: a query is not scoped to the
  // remote's default project (a restricted CI certificate's only one).
  const profile = await incus(['profile', 'show', `${remote}:default`]);
  let pool: string | undefined;
  try {
    const devices = (parseYaml(profile.out) as { devices?: Record<string, { type?: string; path?: string; pool?: string }> } | null)?.devices ?? {};
    pool = Object.values(devices).find((d) => d.type === 'disk' && d.path === '/')?.pool;
  } catch {
    /* no answer: reported below */
  }
  if (!pool) return `no root disk pool in the default profile of ${remote}${profile.ok ? '' : ` (${lastLine(profile.err)})`}`;
  const mark = async () => {
    const r = await incus(['storage', 'volume', 'get', `${remote}:${pool}`, name, VOLUME_MARK]);
    return r.ok ? r.out.trim() : undefined;
  };
  let value = await mark();
  if (value === undefined) {
    const made = await incus(['storage', 'volume', 'create', `${remote}:${pool}`, name, `${VOLUME_MARK}=1`]);
    // Two runs may create it at once: the loser finds the winner's.
    value = await mark();
    if (value === undefined) return made.ok ? `volume ${name} in pool ${pool} was created but cannot be read back` : `creating volume ${name} in pool ${pool} failed: ${lastLine(made.err)}`;
  }
  if (value !== '1') return `volume ${name} in pool ${pool} exists but is not marked ${VOLUME_MARK}=1 (not ours: left alone)`;
  return { pool, name };
}

const lastLine = (s: string) => s.trim().split('\n').pop() || 'no message';

/** The script that says which inputs the volume holds verified: a line `HIT <key> <bytes>` or `MISS <key> <why>` each; drops entries that do not verify. */
export function checkScript(inputs: TreeInput[]): string {
  return [PRELUDE, 'set -u', ...inputs.map((i) => {
    const e = entry(i.key);
    return `if [ -f ${at(`${e}/sha256`)} ] && [ -f ${at(`${e}/rootfs.tar`)} ]; then
  got=$(sha256sum < ${at(`${e}/rootfs.tar`)} | cut -d' ' -f1)
  if [ "$got" = "$(cat ${at(`${e}/sha256`)})" ]; then
    ${i.sha256 ? `if [ "$got" = ${q(i.sha256)} ]; then echo "HIT ${i.key} $(stat -c %s ${at(`${e}/rootfs.tar`)})"; else echo "MISS ${i.key} not the recorded tree (sha256:$got, recorded ${i.sha256})"; fi` : `echo "HIT ${i.key} $(stat -c %s ${at(`${e}/rootfs.tar`)})"`}
  else mv -T ${at(e)} ${at(`${MOUNT}/trees/.bad-${i.key}-$$`)} 2>/dev/null; rm -rf ${at(`${MOUNT}/trees/.bad-${i.key}-$$`)}; echo "MISS ${i.key} checksum mismatch (sha256:$got), entry removed"; fi
else echo "MISS ${i.key} absent"; fi`;
  })].join('\n');
}

/** Parses {@link checkScript}'s output: the verified keys with their sizes, and why the others missed. */
export function parseCheck(out: string): { hits: Map<string, number>; misses: Map<string, string> } {
  const hits = new Map<string, number>();
  const misses = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^(HIT|MISS) (\S+) (.*)$/.exec(line);
    if (m?.[1] === 'HIT') hits.set(m[2], Number(m[3]));
    else if (m) misses.set(m[2], m[3]);
  }
  return { hits, misses };
}

/** The script that puts verified entries where the run reads them: a tarball is linked (read only), a tree unpacked. */
export function materializeScript(inputs: TreeInput[]): string {
  return [PRELUDE, 'set -euo pipefail', ...inputs.map((i) => i.form === 'tar'
    ? `mkdir -p ${at(dirOf(i.path))} && ln -sfn ${at(`${entry(i.key)}/rootfs.tar`)} ${at(i.path)}`
    : `mkdir -p ${at(i.path)} && ${TAR} -C ${at(i.path)} -xf ${at(`${entry(i.key)}/rootfs.tar`)}`)].join('\n');
}

/**
 * The script that stores trees into the volume under their keys: `from` is a tarball already in
 * the container (copied) or a tree folder (tarred). For a tree pushed in (`own` unset) an
 * existing entry that verifies is kept (same key, same content) and one that does not is
 * replaced. The run's own tree (`own`) always replaces the entry: it was built because the one
 * recorded was missing or not the tree recorded, and what is recorded now must be what is there.
 * Leftovers of killed runs older than a day are removed. For each item it prints
 * `KEPT <key> <sha256> <bytes>` of the entry now there.
 */
export function storeScript(container: string, items: Array<{ key: string; from: string; form: 'tar' | 'tree'; own?: boolean }>): string {
  const lines = [PRELUDE, 'set -euo pipefail', `mkdir -p ${at(`${MOUNT}/trees`)}`,
    `find ${at(`${MOUNT}/trees`)} -maxdepth 1 -name '.tmp-*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true`];
  for (const it of items) {
    const e = entry(it.key);
    const tmp = `${MOUNT}/trees/.tmp-${container}-${it.key}`;
    const old = `${MOUNT}/trees/.old-${container}-${it.key}`;
    const keep = it.own ? 'false' : `[ "$(sha256sum < ${at(`${e}/rootfs.tar`)} 2>/dev/null | cut -d' ' -f1)" = "$(cat ${at(`${e}/sha256`)} 2>/dev/null)" ]`;
    lines.push(`if [ ! -d ${at(e)} ] || ! ${keep}; then
  rm -rf ${at(tmp)}; mkdir -p ${at(tmp)}
  ${it.form === 'tar' ? `cp ${at(it.from)} ${at(`${tmp}/rootfs.tar`)}` : `${TAR} -C ${at(it.from)} -cf ${at(`${tmp}/rootfs.tar`)} .`}
  sha256sum < ${at(`${tmp}/rootfs.tar`)} | cut -d' ' -f1 > ${at(`${tmp}/sha256`)}
  sync -f ${at(`${tmp}/rootfs.tar`)} 2>/dev/null || true
  rm -rf ${at(old)}; mv -T ${at(e)} ${at(old)} 2>/dev/null || true
  mv -T ${at(tmp)} ${at(e)} 2>/dev/null || rm -rf ${at(tmp)}
  rm -rf ${at(old)}
  echo "STORED ${it.key}"
fi
echo "KEPT ${it.key} $(cat ${at(`${e}/sha256`)}) $(stat -c %s ${at(`${e}/rootfs.tar`)})"`);
  }
  return lines.join('\n');
}

/** Parses the `KEPT` lines of {@link storeScript}: checksum and size of each entry by key. */
export function parseKept(out: string): Map<string, { sha256: string; bytes: number }> {
  const kept = new Map<string, { sha256: string; bytes: number }>();
  for (const m of out.matchAll(/^KEPT (\S+) ([0-9a-f]{64}) (\d+)$/gm)) kept.set(m[1], { sha256: m[2], bytes: Number(m[3]) });
  return kept;
}

/** The script that writes entry `key`'s tarball to stdout (a pull to another host). */
export function catScript(key: string): string {
  return [PRELUDE, 'set -euo pipefail', `exec cat ${at(`${entry(key)}/rootfs.tar`)}`].join('\n');
}

function dirOf(p: string): string {
  return p.slice(0, p.lastIndexOf('/')) || '/';
}

/** Runs a script in a container through `incus exec ... bash -c`; stdout, or why it failed. */
export async function execScript(incusArgs: string[], exe: string, script: string, signal: AbortSignal): Promise<{ ok: true; out: string } | { ok: false; why: string }> {
  const r = await execa(exe, [...incusArgs, '--', 'bash', '-c', script], { reject: false, input: '', cancelSignal: signal, timeout: 900_000 });
  if (r.exitCode === 0) return { ok: true, out: String(r.stdout) };
  if (signal.aborted) return { ok: false, why: 'interrupted' };
  return { ok: false, why: String(r.stderr).trim().split('\n').slice(-3).join('; ') || `exit code ${r.exitCode}` };
}
