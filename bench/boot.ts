/**
 * Boot to healthy (`npm run bench -- boot`; root, Incus, built images): for each appliance built
 * for the host architecture in `.cache/out/`, the median over BENCH_BOOT_RUNS (default 5) launches
 * of the time from `incus init` to the first passing health check, on the default profile's
 * pool, and for some appliances (BOOT_CONTRAST_APPS) also on a throw-away pool of the other kind
 * for contrast, alternating the pools so that load from other processes hits them alike: a
 * loop-backed btrfs pool when the default is `dir`, a `dir` pool when it is btrfs/zfs/lvm (what
 * `lib/host/setup.sh` makes by default since it prefers btrfs). The ratio is the contrast pool's
 * median over the default's. Each row states the load average when its runs began.
 *
 * A launch is timed as `incus init` (the image unpacked into a new container on a `dir` pool; a
 * snapshot clone of the pool's image volume on btrfs/zfs/lvm) plus `incus start` to the first
 * passing health check, polled with `incus exec` every 0.1 s (each poll costs what it costs; it
 * is counted). The first launch of an image on a pool is reported apart: on btrfs/zfs/lvm it also
 * creates the pool's image volume, once per image.
 *
 * Then, once per appliance, `systemd-analyze critical-chain` of its main service (the last one listed) in a booted
 * container (what the start waited for). The output is Markdown, ready to paste into
 * docs/benchmarks.md, with the load average at the start and end.
 *
 * Environment:
 * - BOOT_APPS=nginx,redis: only these appliances (default: every one built here).
 * - BOOT_POOLS=default,fast: existing pools to measure, in that order (default: the default
 *   profile's pool, then a temporary pool created and deleted here: `<prefix>btrfs` of 8 GiB
 *   when the default is `dir` and the kernel has btrfs and mkfs.btrfs is installed,
 *   `<prefix>dir` when the default is not `dir`).
 * - BOOT_CONTRAST_APPS=nginx,redis (the default): the appliances also measured on the pools
 *   after the first; `all` for every one (a `dir` launch unpacks the whole image: ~5 s here);
 *   empty: the default pool only, no temporary pool.
 * - BENCH_BOOT_RUNS=5, BENCH_PREFIX=boot-bench- (names of every container, image alias and pool
 *   created here; all deleted at the end; an image already stored is used and kept).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { hostArch } from '../lib/arch.ts';
import { loadAppliances } from '../lib/compile/load.ts';
import { projectPaths, outDir } from '../lib/graph/paths.ts';
import { deleteInstance, execIn, incus, incusOk } from '../lib/incus/client.ts';
import { testSettings, waitHealthy } from '../lib/runtime/appliance-test.ts';
import { localImage, removeLocalImage, type LocalImage } from '../lib/runtime/boot.ts';
import { unitName } from '../lib/runtime/network-wait.ts';
import { defaultPool } from '../lib/incus/storage.ts';
import type { Appliance } from '../lib/compile/model.ts';

const ROOT = join(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_BOOT_RUNS ?? 5);
const PREFIX = process.env.BENCH_PREFIX ?? 'boot-bench-';
const tag = randomBytes(3).toString('hex');
const controller = new AbortController();
const images: LocalImage[] = [];
/** Fingerprints launched here: their image volumes are deleted from the temporary pool. */
const used = new Set<string>();
const live = new Set<string>();
let tempPool: string | undefined;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
const progress = (line: string) => process.stderr.write(`${line}\n`);
/**
 * The unit whose critical chain is printed: the appliance's last service, the one doing the work
 * where there are several (postgres: `postgresql@17-main`, the cluster; `postgresql` is a no-op).
 */
const mainUnit = (app: Appliance) => unitName(app.services?.at(-1) ?? 'multi-user.target');

/** One launch's seconds: `incus init` (the container created from the image), then start to healthy. */
interface Launch { init: number; boot: number }
const total = (l: Launch) => l.init + l.boot;

/** The squashfs compression of a built rootfs (superblock bytes 20-21), and its size. */
function imageInfo(rootfs: string): string {
  const names: Record<number, string> = { 1: 'gzip', 2: 'lzma', 3: 'lzo', 4: 'xz', 5: 'lz4', 6: 'zstd' };
  const fd = openSync(rootfs, 'r');
  const sb = Buffer.alloc(22);
  try { readSync(fd, sb, 0, 22, 0); } finally { closeSync(fd); }
  return `${names[sb.readUInt16LE(20)] ?? 'unknown'}, ${(statSync(rootfs).size / 1e6).toFixed(1)} MB`;
}

/** One launch on `pool`: init, start, poll health; the container is deleted (not counted). */
async function once(app: Appliance, image: string, pool: string, chain?: string): Promise<{ launch: Launch; chain?: string }> {
  const name = `${PREFIX}${app.name}-${tag}-${randomBytes(2).toString('hex')}`.slice(0, 63);
  live.add(name);
  try {
    const args = ['init', image, name, '-s', pool];
    for (const [k, v] of Object.entries(testSettings(app))) args.push('-c', `${k}=${v}`);
    const t0 = Date.now();
    await incusOk(args, { timeoutMs: 300_000 });
    const t1 = Date.now();
    await incusOk(['start', name], { timeoutMs: 300_000 });
    const { healthy, last } = await waitHealthy(name, app.health, t1, controller.signal);
    if (!healthy) throw new Error(`${app.name}: not healthy within ${app.health.timeout ?? 60} s (exit ${last.code}): ${(last.stdout + last.stderr).trim().slice(0, 300)}`);
    const launch = { init: (t1 - t0) / 1000, boot: (Date.now() - t1) / 1000 };
    if (!chain) return { launch };
    // Exit status is non-zero for "degraded": only the end of the boot matters here.
    await execIn(name, 'systemctl is-system-running --wait', 120_000);
    const r = await execIn(name, `systemd-analyze critical-chain --no-pager ${chain}`);
    // Without systemd-analyze's two legend lines ("The time when unit became active...").
    return { launch, chain: (r.stdout + r.stderr).split('\n').filter((l) => !/^The time /.test(l)).join('\n').trim() };
  } finally {
    await deleteInstance(name);
    live.delete(name);
  }
}

/** A pool's storage driver (`dir`, `btrfs`, ...). */
async function driverOf(name: string): Promise<string> {
  return (JSON.parse(await incusOk(['query', `/1.0/storage-pools/${name}`])) as { driver: string }).driver;
}

/**
 * The pools to measure, with their drivers: BOOT_POOLS, else the default profile's pool and a
 * temporary one of the other kind (copy-on-write against `dir`), when it can be made here.
 */
async function pools(): Promise<{ name: string; driver: string }[]> {
  const names = (process.env.BOOT_POOLS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) {
    const first = (await defaultPool())?.pool;
    if (!first) throw new Error('the default profile has no root disk pool: cannot pick a pool (set BOOT_POOLS)');
    names.push(first);
    const btrfsOk = readFileSync('/proc/filesystems', 'utf8').includes('btrfs') && ['/usr/sbin/mkfs.btrfs', '/sbin/mkfs.btrfs', '/usr/bin/mkfs.btrfs'].some(existsSync);
    if (!process.env.BOOT_CONTRAST_APPS?.trim() && process.env.BOOT_CONTRAST_APPS !== undefined) {
      progress('BOOT_CONTRAST_APPS is empty: measuring the default pool only');
    } else if ((await driverOf(first)) !== 'dir') {
      tempPool = `${PREFIX}dir`;
      await incusOk(['storage', 'create', tempPool, 'dir'], { timeoutMs: 120_000 });
      names.push(tempPool);
    } else if (btrfsOk) {
      tempPool = `${PREFIX}btrfs`;
      await incusOk(['storage', 'create', tempPool, 'btrfs', 'size=8GiB'], { timeoutMs: 120_000 });
      names.push(tempPool);
    } else {
      progress('no btrfs here (kernel or mkfs.btrfs): measuring the default pool only');
    }
  }
  const out: { name: string; driver: string }[] = [];
  for (const name of names) out.push({ name, driver: await driverOf(name) });
  return out;
}

/** BOOT_CONTRAST_APPS: which appliances are measured on the pools after the first. */
function contrasted(app: Appliance): boolean {
  const list = (process.env.BOOT_CONTRAST_APPS ?? 'nginx,redis').split(',').map((s) => s.trim()).filter(Boolean);
  return list.includes('all') || list.includes(app.name);
}

async function cleanup(): Promise<void> {
  for (const n of live) await deleteInstance(n);
  for (const img of images) await removeLocalImage(img);
  images.length = 0;
  if (tempPool) {
    // An image found stored (kept) left its image volume on the pool.
    for (const fp of used) await incus(['storage', 'volume', 'delete', tempPool, `image/${fp}`], { timeoutMs: 120_000 });
    await incus(['storage', 'delete', tempPool], { timeoutMs: 120_000 });
  }
  tempPool = undefined;
}

process.on('SIGINT', () => {
  controller.abort();
  void cleanup().finally(() => process.exit(130));
});

const cell = (ls: Launch[]) => `${median(ls.map(total)).toFixed(2)} s (${median(ls.map((l) => l.init)).toFixed(2)} + ${median(ls.map((l) => l.boot)).toFixed(2)})`;

try {
  const arch = hostArch();
  const wanted = (process.env.BOOT_APPS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const apps = (await loadAppliances(join(ROOT, 'appliances'), wanted)).filter((a) => a.architectures.includes(arch));
  const paths = projectPaths(ROOT);
  const built = apps.filter((a) => existsSync(join(outDir(paths, `${a.name}:${arch}`), 'rootfs.squashfs')));
  const missing = apps.filter((a) => !built.includes(a)).map((a) => a.name);
  const ps = await pools();
  const startLoad = load();
  const out: string[] = [];
  const chains: string[] = [];
  out.push(`Launch to first passing health check, ${arch}, median of ${RUNS} per pool (total = \`incus init\` + start to healthy; the first launch on a pool apart); pools: ${ps.map((p) => `${p.name} (${p.driver})`).join(', ')}${ps.length > 1 ? `, the later ones for ${(process.env.BOOT_CONTRAST_APPS ?? 'nginx,redis')} only` : ''}; load average (1, 5, 15 min) at start ${startLoad}, and per row when its runs began.`);
  if (missing.length) out.push(`Not built here (skipped): ${missing.join(', ')} (\`npx tsx build.ts build <name>:${arch}\`).`);
  out.push('');
  const head = ['appliance', 'image (rootfs)', 'load at start', ...ps.map((p) => `pool ${p.name} (${p.driver})`)];
  if (ps.length > 1) head.push(`${ps.at(-1)!.name} / ${ps[0].name}`);
  head.push(...ps.map((p) => `first launch, ${p.name}`));
  out.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  process.stdout.write(out.join('\n') + '\n');
  let failed = 0;
  for (const app of built) {
    // One appliance that never gets healthy is a row saying why, not the end of the run.
    try {
      await benchOne(app);
    } catch (e) {
      if (controller.signal.aborted) throw e;
      failed++;
      process.stdout.write(`| ${app.name} | FAILED: ${(e as Error).message.replace(/\s+/g, ' ').slice(0, 300)} |\n`);
    }
  }
  process.exitCode = failed ? 1 : 0;

  /** Measures one appliance on every pool and prints its row. */
  async function benchOne(app: Appliance): Promise<void> {
    const dir = outDir(paths, `${app.name}:${arch}`);
    const image = await localImage(dir, `${PREFIX}${app.name}-${tag}`);
    images.push(image);
    used.add(image.fingerprint);
    try {
      const rowLoad = load();
      // The default pool always; the others for the contrasted appliances only.
      const mine = ps.map((_, j) => j).filter((j) => j === 0 || contrasted(app));
      const first: (Launch | undefined)[] = ps.map(() => undefined);
      const runs: Launch[][] = ps.map(() => []);
      for (const j of mine) first[j] = (await once(app, image.ref, ps[j].name)).launch;
      let chain = '';
      for (let i = 0; i < RUNS; i++) {
        const order = [...mine];
        if (i % 2 === 1) order.reverse();
        for (const j of order) {
          const last = i === RUNS - 1 && j === 0;
          const r = await once(app, image.ref, ps[j].name, last ? mainUnit(app) : undefined);
          runs[j].push(r.launch);
          if (r.chain) chain = r.chain;
          progress(`${app.name} ${ps[j].name} run ${i + 1}: ${total(r.launch).toFixed(2)} s (init ${r.launch.init.toFixed(2)} + ${r.launch.boot.toFixed(2)})`);
        }
      }
      const row = [app.name + (app.waitForNetwork ? ' (waits for the network)' : ''), imageInfo(join(dir, 'rootfs.squashfs')), rowLoad, ...runs.map((r) => (r.length ? cell(r) : '-'))];
      if (ps.length > 1) row.push(runs.at(-1)!.length ? `${(median(runs.at(-1)!.map(total)) / median(runs[0].map(total))).toFixed(2)}x` : '-');
      row.push(...first.map((l) => (l ? `${total(l).toFixed(2)} s` : '-')));
      process.stdout.write(`| ${row.join(' | ')} |\n`);
      chains.push(`${app.name}:\n${chain}`);
    } finally {
      await removeLocalImage(image);
      images.splice(images.indexOf(image), 1);
    }
  }
  process.stdout.write(`\nLoad average at end ${load()}.\n\nCritical chains (\`systemd-analyze critical-chain\`, last run on pool ${ps[0].name}):\n\n\`\`\`\n${chains.join('\n\n')}\n\`\`\`\n`);
} finally {
  await cleanup();
}
