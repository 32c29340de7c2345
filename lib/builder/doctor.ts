/**
 * `doctor`'s part about the builder: for the configured one (`--builder`, else
 * build.config.json), whether the remote answers, its architecture (and its cluster members'),
 * whether the builder image is there, and the free space of the pool its containers use.
 * @module
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { builderConfig } from './config.ts';
import { remoteInfo, splitFingerprint, BUILDER_APPLIANCE } from './index.ts';
import { UserError } from '../diagnostics.ts';
import { formatBytes } from '../format.ts';
import { projectPaths, outDir } from '../graph/paths.ts';

/** One row of the report: what, status, and a fix when it is not fine. */
export interface BuilderCheck { what: string; status: string; fix?: string }

async function query<T>(args: string[]): Promise<T | undefined> {
  const r = await execa('incus', args, { reject: false, input: '', timeout: 30_000 });
  if (r.exitCode !== 0) return undefined;
  try {
    return JSON.parse(String(r.stdout)) as T;
  } catch {
    return undefined;
  }
}

/** Checks the configured builder; empty when no builder is configured (nodes run on this host). */
export async function checkBuilder(root: string, option: string | undefined): Promise<BuilderCheck[]> {
  const config = builderConfig(root, option);
  if (!config) return [];
  const name = `builder ${config.remote}${config.project ? ` (project ${config.project})` : ''}`;
  const pj = config.project ? ['--project', config.project] : [];
  let info;
  try {
    info = await remoteInfo(config.remote, config.project);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return [{ what: `${name}: reachable`, status: 'NO', fix: `${e.message.replace(/^builder \S+: /, '')}` }];
  }
  const out: BuilderCheck[] = [{ what: `${name}: reachable`, status: `yes (from ${config.origin})` }];
  const members = info.members.length ? `; cluster members: ${info.members.map((m) => `${m.name} ${m.architecture}`).join(', ')}` : '';
  out.push({ what: `${name}: architecture`, status: `${info.architecture}${members}`, ...(info.arch ? {} : { fix: 'the registry builds amd64 and arm64 only' }) });
  out.push(await imageCheck(root, name, config.remote, config.images?.[info.arch!] ?? config.image, pj, info.arch));
  for (const [a, image] of Object.entries(config.images ?? {})) if (a !== info.arch) out.push(await imageCheck(root, `${name} (${a})`, config.remote, image, pj, a));
  const targets = Object.entries(config.targets ?? {}).map(([a, t]) => `${a === 'all' ? 'every architecture' : a} -> ${t}`);
  if (targets.length) out.push({ what: `${name}: placement`, status: targets.join(', '), ...(info.members.length ? {} : { fix: 'builder.target needs a cluster remote' }) });
  const profile = await query<{ devices?: Record<string, { type?: string; path?: string; pool?: string }> }>([...pj, 'query', `${config.remote}:/1.0/profiles/default`]);
  const pool = Object.values(profile?.devices ?? {}).find((d) => d.type === 'disk' && d.path === '/')?.pool;
  const res = pool ? await query<{ space?: { total: number; used: number } }>([...pj, 'query', `${config.remote}:/1.0/storage-pools/${pool}/resources`]) : undefined;
  if (res?.space) {
    const free = res.space.total - res.space.used;
    // A node needs its tree twice (pushed in, written out) plus the image: ~1 GiB is tight.
    out.push({ what: `${name}: free disk`, status: `${formatBytes(free)} free in pool ${pool}`, ...(free < 2 * 1024 ** 3 ? { fix: 'under 2 GiB: builds may fail' } : {}) });
  } else out.push({ what: `${name}: free disk`, status: 'unknown', fix: `no root disk pool in its default profile, or \`incus query ${config.remote}:/1.0/storage-pools/POOL/resources\` is refused` });
  return out;
}

/** Whether the builder image is on the remote (the configured one, or this project's build). */
async function imageCheck(root: string, name: string, remote: string, image: string | undefined, pj: string[], arch: string | undefined): Promise<BuilderCheck> {
  const what = `${name}: builder image`;
  if (image) {
    const r = await execa('incus', [...pj, 'image', 'info', image.includes(':') ? image : `${remote}:${image}`], { reject: false, input: '', timeout: 30_000 });
    return r.exitCode === 0 ? { what, status: `${image} present` } : { what, status: `${image} MISSING`, fix: 'copy or import it into the remote (docs/scale.md, "Builders")' };
  }
  const dir = arch ? outDir(projectPaths(root), `${BUILDER_APPLIANCE}:${arch}`) : undefined;
  const meta = dir && `${dir}/incus.tar.xz`;
  const rootfs = dir && `${dir}/rootfs.squashfs`;
  if (!meta || !rootfs || !existsSync(meta) || !existsSync(rootfs)) return { what, status: 'not built here yet', fix: `the first \`build --builder ${remote}\` builds and imports it (or: npx tsx build.ts ${BUILDER_APPLIANCE}:${arch ?? 'ARCH'})` };
  const fp = await splitFingerprint(meta, rootfs);
  const r = await execa('incus', [...pj, 'image', 'info', `${remote}:${fp}`], { reject: false, input: '', timeout: 30_000 });
  return r.exitCode === 0 ? { what, status: `present (${fp.slice(0, 12)})` } : { what, status: `built here, not imported yet (${fp.slice(0, 12)})`, fix: `the next \`build --builder ${remote}\` imports it` };
}
