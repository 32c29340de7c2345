/**
 * Boot to healthy (`npm run bench -- boot`; root, Incus, built images): for each appliance
 * built for the host architecture in `.cache/out/`, the median over BENCH_BOOT_RUNS (default 5)
 * launches of the time from `incus launch` to the first passing health check, against a
 * baseline measured in the same run: the same image with the network wait unmasked (the boot
 * waits for DHCP as it did before `waitForNetwork`). Appliances that set `waitForNetwork`
 * keep the wait and have no baseline.
 *
 * Both variants are timed the same way, as `incus init` plus `incus start` to healthy (what
 * `incus launch` does); the baseline's unmask (`incus file delete` of the mask on the stopped
 * container) happens between the two and is not counted, and the other variant reads a file
 * there instead, so both touch the stopped container alike. The variants alternate, first one then
 * the other, so that load from other processes hits both alike. The load average is printed.
 *
 * BOOT_APPS=nginx,redis limits the appliances. Every container and imported image is named
 * `boot-bench-*` and deleted at the end (an image already stored is used and kept).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { hostArch } from '../lib/arch.ts';
import { loadAppliances } from '../lib/compile/load.ts';
import { projectPaths, outDir } from '../lib/graph/paths.ts';
import { deleteInstance, incusOk } from '../lib/incus/client.ts';
import { testSettings, waitHealthy } from '../lib/runtime/appliance-test.ts';
import { localImage, removeLocalImage, type LocalImage } from '../lib/runtime/boot.ts';
import type { Appliance } from '../lib/compile/model.ts';

const ROOT = join(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_BOOT_RUNS ?? 5);
const MASK = '/etc/systemd/system/systemd-networkd-wait-online.service';
const tag = randomBytes(3).toString('hex');
const controller = new AbortController();
const images: LocalImage[] = [];
const live = new Set<string>();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');

/** One launch's seconds: `incus init` (the image unpacked into a new container), then start to healthy. */
interface Launch { init: number; boot: number }

/** One launch: init, optionally unmask the wait, start, poll health; the unmask is not counted. */
async function once(app: Appliance, image: string, unmask: boolean): Promise<Launch> {
  const name = `boot-bench-${app.name}-${tag}-${randomBytes(2).toString('hex')}`.slice(0, 63);
  live.add(name);
  try {
    const args = ['init', image, name];
    for (const [k, v] of Object.entries(testSettings(app))) args.push('-c', `${k}=${v}`);
    const t0 = Date.now();
    await incusOk(args, { timeoutMs: 300_000 });
    const created = Date.now() - t0;
    // Both variants touch the stopped container's files once (not counted): a file operation
    // mounts its storage, which would otherwise favour the baseline's start.
    if (unmask) await incusOk(['file', 'delete', `${name}${MASK}`]);
    else await incusOk(['file', 'pull', `${name}/etc/hostname`, '-']);
    const t1 = Date.now();
    await incusOk(['start', name], { timeoutMs: 300_000 });
    const { healthy, last } = await waitHealthy(name, app.health, t1, controller.signal);
    if (!healthy) throw new Error(`${app.name}: not healthy within ${app.health.timeout ?? 60} s (exit ${last.code}): ${(last.stdout + last.stderr).trim().slice(0, 300)}`);
    return { init: created / 1000, boot: (Date.now() - t1) / 1000 };
  } finally {
    await deleteInstance(name);
    live.delete(name);
  }
}

/** Medians of one appliance: with the wait skipped (as built) and, unless it waits, unmasked. */
async function measure(app: Appliance, image: string): Promise<{ built: Launch[]; waiting: Launch[] }> {
  const built: Launch[] = [];
  const waiting: Launch[] = [];
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    for (const unmask of order) {
      if (unmask && app.waitForNetwork) continue;
      (unmask ? waiting : built).push(await once(app, image, unmask));
    }
  }
  return { built, waiting };
}

async function cleanup(): Promise<void> {
  for (const n of live) await deleteInstance(n);
  for (const img of images) await removeLocalImage(img);
}

process.on('SIGINT', () => {
  controller.abort();
  void cleanup().finally(() => process.exit(130));
});

try {
  const arch = hostArch();
  const wanted = (process.env.BOOT_APPS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const apps = (await loadAppliances(join(ROOT, 'appliances'), wanted)).filter((a) => a.architectures.includes(arch));
  const paths = projectPaths(ROOT);
  const built = apps.filter((a) => existsSync(join(outDir(paths, `${a.name}:${arch}`), 'rootfs.squashfs')));
  const missing = apps.filter((a) => !built.includes(a)).map((a) => a.name);
  process.stdout.write(`launch to first passing health check, median of ${RUNS}, ${arch}; load average at start ${load()}\n`);
  if (missing.length) process.stdout.write(`not built here (skipped): ${missing.join(', ')} (npx tsx build.ts build <name>:${arch})\n`);
  process.stdout.write(`${'appliance'.padEnd(12)} ${'as built'.padStart(9)} ${'waiting'.padStart(9)}  ratio  runs as built (s)\n`);
  for (const app of built) {
    const image = await localImage(outDir(paths, `${app.name}:${arch}`), `boot-bench-${app.name}-${tag}`);
    images.push(image);
    const r = await measure(app, image.ref);
    const total = (l: Launch) => l.init + l.boot;
    const b = median(r.built.map(total));
    const w = r.waiting.length ? median(r.waiting.map(total)) : undefined;
    const cols = w === undefined
      ? `${'(waits)'.padStart(9)}   ----`
      : `${w.toFixed(2).padStart(8)}s  ${(b / w).toFixed(2)}x`;
    const split = `init ${median(r.built.map((l) => l.init)).toFixed(2)} + start to healthy ${median(r.built.map((l) => l.boot)).toFixed(2)}`;
    process.stdout.write(`${app.name.padEnd(12)} ${b.toFixed(2).padStart(8)}s ${cols}  ${r.built.map((x) => total(x).toFixed(2)).join(' ')} (medians: ${split})${app.waitForNetwork ? '  (waitForNetwork: keeps the wait)' : ''}\n`);
    await removeLocalImage(image);
    images.splice(images.indexOf(image), 1);
  }
  process.stdout.write(`load average at end ${load()}\n`);
} finally {
  await cleanup();
}
