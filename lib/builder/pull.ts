/**
 * Pulls a tree that a builder left in its tree cache volume (docs/scale.md, "Trees left on the
 * builder") to this host, when something here needs it: a run on this host or on another builder.
 * A throw-away container of the recorded builder image, with the volume attached, streams the
 * entry's tarball out; it is used only when its sha256 and size are the recorded ones, and the
 * container is deleted in every case (it carries the builder's owner mark, so a run killed with
 * kill -9 leaves nothing a later builder run does not sweep).
 * @module
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { fileSha256 } from '../cache/stage.ts';
import { formatBytes } from '../format.ts';
import type { RemoteTree } from '../graph/record.ts';
import { privilegePrefix } from '../validate/distrobuilder.ts';
import { builderPrefix, MARK_KEY, ownMark } from './incus-executor.ts';
import { catScript, DEVICE, MOUNT } from './volume.ts';
import { randomBytes } from 'node:crypto';

/** What {@link pullTree} needs. */
export interface PullRequest {
  /** Where the tree is. */
  from: RemoteTree;
  /** The tree's key (its entry in the volume). */
  key: string;
  /** Folder to fill: `rootfs/`, and `rootfs.tar` when `keepTar` (a base: layers start from it). */
  dest: string;
  keepTar: boolean;
  /** Scratch folder (the tarball lands here first). */
  tmp: string;
  signal: AbortSignal;
  /** Progress lines. */
  stage: (s: string) => void;
  /** The `incus` executable. @default "incus" */
  incus?: string;
}

/** Pulls the tree; undefined when `dest` holds it verified, else why not (then it is rebuilt). */
export async function pullTree(r: PullRequest): Promise<string | undefined> {
  const exe = r.incus ?? 'incus';
  const t = r.from;
  const pj = t.project ? ['--project', t.project] : [];
  const ref = `${t.remote}:${builderPrefix()}pull-${r.key.slice(0, 16)}-${randomBytes(3).toString('hex')}`;
  const call = async (args: string[]) => {
    const x = await execa(exe, [...pj, ...args], { reject: false, input: '', cancelSignal: r.signal, timeout: 300_000 });
    if (x.exitCode === 0) return undefined;
    if (r.signal.aborted) return 'interrupted';
    return `incus ${args.slice(0, 2).join(' ')} failed: ${String(x.stderr || x.shortMessage || '').trim().split('\n').pop() || `exit code ${x.exitCode}`}`;
  };
  try {
    r.stage(`pulling the tree from builder ${t.remote} (volume ${t.volume}, ${formatBytes(t.bytes)})`);
    const failed = await call(['launch', t.image, ref, '--ephemeral', '-c', 'security.privileged=true', '-c', `${MARK_KEY}=${ownMark()}`])
      ?? await call(['config', 'device', 'add', ref, DEVICE, 'disk', `pool=${t.pool}`, `source=${t.volume}`, `path=${MOUNT}`]);
    if (failed) return failed;
    const tar = join(r.tmp, 'pulled.tar');
    // Into the file by the shell: execa would buffer the ~200 MiB stream (maxBuffer).
    const x0 = await execa('bash', ['-c', '"$@" > "$PULL_OUT"', 'pull', exe, ...pj, 'exec', ref, '--', 'bash', '-c', catScript(r.key)], { reject: false, stdin: 'ignore', cancelSignal: r.signal, timeout: 900_000, env: { PULL_OUT: tar } });
    if (x0.exitCode !== 0) return r.signal.aborted ? 'interrupted' : `streaming the tree out failed: ${String(x0.stderr).trim().split('\n').pop() || `exit code ${x0.exitCode}`}`;
    const got = await fileSha256(tar, r.signal);
    if (got.sha256 !== t.sha256 || got.size !== t.bytes) return `the volume's entry is not the recorded tree (sha256 ${got.sha256.slice(0, 12)}, ${got.size} bytes; recorded ${t.sha256.slice(0, 12)}, ${t.bytes})`;
    mkdirSync(join(r.dest, 'rootfs'), { recursive: true });
    // A root tree has files only root can write: unpacked as root (through sudo when we are not).
    const [cmd, ...pre] = [...privilegePrefix(), 'tar'];
    const x = await execa(cmd, [...pre, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', join(r.dest, 'rootfs'), '-xf', tar], { reject: false, cancelSignal: r.signal, stdin: 'ignore' });
    if (x.exitCode !== 0) return r.signal.aborted ? 'interrupted' : `unpacking the pulled tree failed: ${String(x.stderr).split('\n')[0]}`;
    if (r.keepTar) renameSync(tar, join(r.dest, 'rootfs.tar'));
    else rmSync(tar, { force: true });
    return undefined;
  } finally {
    // Not under the run's signal: the container goes also when interrupted.
    await execa(exe, [...pj, 'delete', '--force', ref], { reject: false, input: '', timeout: 120_000, detached: true });
  }
}
