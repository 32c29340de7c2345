/**
 * Boot measurements on built images, without a registry: put a target's output into the local
 * Incus image store, launch it, time launch-to-healthy, read what systemd waited for. Used by
 * `npm run bench -- boot` and the boot end-to-end test.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Appliance } from '../compile/model.ts';
import { deleteInstance, execIn, incus, incusOk, launch } from '../incus/client.ts';
import { testSettings, waitHealthy } from './appliance-test.ts';

/** An image in the local Incus store, as launched by these helpers. */
export interface LocalImage {
  /** What `incus launch` takes: the alias when imported here, else the fingerprint. */
  ref: string;
  fingerprint: string;
  /** True when this call imported it (then {@link removeLocalImage} deletes it). */
  imported: boolean;
}

/**
 * Incus's fingerprint of a split image: sha256 of the metadata tarball followed by the rootfs.
 * Computed first because importing an image whose fingerprint is already stored fails.
 */
export async function imageFingerprint(metadata: string, rootfs: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of [metadata, rootfs]) for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Puts a target's build output (`incus.tar.xz` + `rootfs.squashfs` in `outDir`) into the local
 * image store under `alias`. An image already stored with the same fingerprint is used as it is
 * and left alone (someone else's).
 */
export async function localImage(outDir: string, alias: string): Promise<LocalImage> {
  const metadata = join(outDir, 'incus.tar.xz');
  const rootfs = join(outDir, 'rootfs.squashfs');
  if (!existsSync(metadata) || !existsSync(rootfs)) throw new Error(`${outDir} holds no built image (incus.tar.xz and rootfs.squashfs)`);
  const fingerprint = await imageFingerprint(metadata, rootfs);
  if ((await incus(['image', 'info', fingerprint])).code === 0) return { ref: fingerprint, fingerprint, imported: false };
  await incusOk(['image', 'import', metadata, rootfs, '--alias', alias], { timeoutMs: 300_000 });
  return { ref: alias, fingerprint, imported: true };
}

/** Deletes an image {@link localImage} imported; leaves one it found. */
export async function removeLocalImage(image: LocalImage): Promise<void> {
  if (image.imported) await incus(['image', 'delete', image.fingerprint]);
}

/**
 * Launches `image` as container `name` with the appliance's test settings and returns the
 * seconds from the start of `incus launch` to the first passing health check. The container is
 * left running (the caller inspects, then deletes it); it is deleted here when the check never
 * passes.
 */
export async function launchToHealthy(app: Appliance, image: string, name: string, signal?: AbortSignal): Promise<number> {
  const started = Date.now();
  await launch(image, name, testSettings(app));
  const { healthy, last } = await waitHealthy(name, app.health, started, signal);
  if (!healthy) {
    await deleteInstance(name);
    throw new Error(`${app.name}: health check did not pass within ${app.health.timeout ?? 60} s (exit ${last.code}): ${(last.stdout + last.stderr).trim().slice(0, 500)}`);
  }
  return (Date.now() - started) / 1000;
}

/** What systemd did about the network wait in a running container. */
export interface NetworkWait {
  /** `systemctl is-enabled systemd-networkd-wait-online.service`: `masked`, `enabled`, ... */
  enabled: string;
  /** Its ActiveState: `inactive` when it never ran, `active` once it did. */
  active: string;
  /**
   * Monotonic µs at which the wait finished (its ActiveEnterTimestampMonotonic), 0 if it never
   * ran.
   */
  waitDoneAt: number;
  /** Monotonic µs at which the unit began to start (its InactiveExitTimestampMonotonic). */
  unitStartedAt: number;
  /**
   * `systemd-analyze critical-chain <unit>` once the boot has finished. It follows the slowest
   * path only, so under load a slow first-boot unit can hide the wait from it: the timestamps
   * are the proof of ordering, the chain is for people.
   */
  criticalChain: string;
}

/** Waits for the boot to finish in `name`, then reads {@link NetworkWait} for `unit`. */
export async function networkWait(name: string, unit: string): Promise<NetworkWait> {
  // Exit status is non-zero for "degraded": only the end of the boot matters here.
  await execIn(name, 'systemctl is-system-running --wait', 120_000);
  const wait = 'systemd-networkd-wait-online.service';
  const enabled = (await execIn(name, `systemctl is-enabled ${wait}`)).stdout.trim();
  const active = (await execIn(name, `systemctl show -p ActiveState --value ${wait}`)).stdout.trim();
  const at = async (u: string, p: string) => Number((await execIn(name, `systemctl show -p ${p} --value ${u}`)).stdout.trim() || 0);
  const chain = await execIn(name, `systemd-analyze critical-chain --no-pager ${unit}`);
  return {
    enabled,
    active,
    waitDoneAt: await at(wait, 'ActiveEnterTimestampMonotonic'),
    unitStartedAt: await at(unit, 'InactiveExitTimestampMonotonic'),
    criticalChain: (chain.stdout + chain.stderr).trim(),
  };
}
