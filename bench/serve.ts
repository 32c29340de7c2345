/**
 * Load benchmark of `serve` (loopback only, bounded, stops by itself): 50 concurrent HTTPS
 * downloads of one 100 MB file, from our server and from nginx serving the same file with the
 * same certificate in the same run; prints the throughput of each and the ratio (target >= 0.9).
 *
 * Both servers run as child processes; the same client drives both (same TLS settings). Rounds alternate (ours, nginx, ours, nginx, ...) and the best round of each
 * counts, so a noisy neighbour hurts both equally. Any error or short body fails the run.
 *
 * Besides throughput it prints the server CPU time per GiB served (user + system of the server
 * processes, from /proc), which is far less sensitive to other load on the machine.
 *
 * Environment: BENCH_CONCURRENCY (50), BENCH_SIZE_MB (100), BENCH_ROUNDS (3), BENCH_NGINX
 * (nginx executable, default `nginx`; install with `apt-get install -y nginx-light`),
 * BENCH_CLIENT (`curl`, one process per download, default when installed; or `node`),
 * BENCH_WORKERS (our server processes, default one per CPU like nginx's `worker_processes auto`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureCertificate } from '../lib/serve/cert.ts';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const SIZE = Number(process.env.BENCH_SIZE_MB ?? 100) * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const NGINX = process.env.BENCH_NGINX ?? 'nginx';
const WORKERS = Number(process.env.BENCH_WORKERS ?? cpus().length);
/** `curl`: one curl process per download (default when curl exists); `node`: one Node client process. */
const CLIENT = process.env.BENCH_CLIENT ?? (spawnSync('curl', ['--version']).status === 0 ? 'curl' : 'node');
const DEADLINE_MS = 10 * 60 * 1000;
const ROOT = join(import.meta.dirname, '..');

const work = mkdtempSync(join(tmpdir(), 'bench-serve-'));
chmodSync(work, 0o755); // nginx workers run as an unprivileged user and must read the file
const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
};
const deadline = setTimeout(() => {
  process.stderr.write(`bench: over ${DEADLINE_MS / 60000} min, stopping\n`);
  cleanup();
  process.exit(2);
}, DEADLINE_MS);
deadline.unref();

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function waitForOutput(c: ChildProcess, re: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const on = (d: Buffer) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        c.stdout?.off('data', on);
        c.stdout?.resume();
        resolve(m[1] ?? m[0]);
      }
    };
    c.stdout?.on('data', on);
    c.stderr?.on('data', (d) => { out += d; });
    c.on('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`)));
  });
}

/** GET `path` until `ok` answers 200 (nginx has no "ready" line). */
async function ready(port: number, ca: Buffer): Promise<void> {
  let lastError = '';
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const r = request({ host: '127.0.0.1', port, path: '/streams/v1/index.json', ca, agent: false }, (res) => { res.resume(); lastError = `status ${res.statusCode}`; resolve(res.statusCode === 200); });
      r.on('error', (e) => { lastError = e.message; resolve(false); });
      r.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server on port ${port} never answered${lastError ? ` (${lastError})` : ""}`);
}

/** CPU seconds (user + system) used so far by `pid` and its children (server workers). */
function cpuSeconds(pid: number): number {
  const tick = 100; // USER_HZ on Linux
  const one = (p: number) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(f[11]) + Number(f[12])) / tick;
    } catch {
      return 0;
    }
  };
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { /* no children */ }
  return one(pid) + kids.reduce((t, k) => t + one(k), 0);
}

/** One round with CONCURRENCY curl processes (a C client per download, like independent hosts). */
async function curlRound(port: number, caPath: string): Promise<{ mbps: number; errors: string[]; seconds: number }> {
  const errors: string[] = [];
  const t0 = process.hrtime.bigint();
  let total = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => new Promise<void>((resolve) => {
    const c = spawn('curl', ['-s', '-o', '/dev/null', '--cacert', caPath, '-w', '%{http_code} %{size_download}', `https://127.0.0.1:${port}/images/bench.bin`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('close', (code) => {
      const [status, n] = out.trim().split(' ').map(Number);
      if (code !== 0 || status !== 200 || n !== SIZE) errors.push(`download ${i}: curl exit ${code}, status ${status}, ${n} of ${SIZE} bytes`);
      total += n || 0;
      resolve();
    });
  })));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbps: total / (1024 * 1024) / seconds, errors, seconds };
}

/** One round: CONCURRENCY simultaneous downloads; returns MB/s (MiB) and errors. */
async function round(port: number, ca: Buffer): Promise<{ mbps: number; errors: string[]; seconds: number }> {
  const agent = new Agent({ keepAlive: false, maxSockets: CONCURRENCY, ca });
  const errors: string[] = [];
  const t0 = process.hrtime.bigint();
  let total = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => new Promise<void>((resolve) => {
    const r = request({ host: '127.0.0.1', port, path: '/images/bench.bin', agent, ca }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => { n += c.length; });
      res.on('end', () => {
        if (res.statusCode !== 200 || n !== SIZE) errors.push(`download ${i}: status ${res.statusCode}, ${n} of ${SIZE} bytes`);
        total += n;
        resolve();
      });
      res.on('error', (e) => { errors.push(`download ${i}: ${e.message}`); resolve(); });
    });
    r.on('error', (e) => { errors.push(`download ${i}: ${e.message}`); resolve(); });
    r.end();
  })));
  agent.destroy();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbps: total / (1024 * 1024) / seconds, errors, seconds };
}

async function main(): Promise<number> {
  const reg = join(work, 'registry');
  mkdirSync(join(reg, 'images'), { recursive: true });
  mkdirSync(join(reg, 'streams', 'v1'), { recursive: true });
  writeFileSync(join(reg, 'streams/v1/index.json'), '{"format":"index:1.0","index":{}}\n');
  // 100 MB of incompressible bytes, written in 1 MB blocks.
  const block = randomFillSync(Buffer.alloc(1 << 20));
  const fd = openSync(join(reg, 'images', 'bench.bin'), 'w');
  for (let off = 0; off < SIZE; off += block.length) writeSync(fd, block, 0, Math.min(block.length, SIZE - off));
  closeSync(fd);
  const cert = await ensureCertificate(join(work, 'certs'), ['localhost', '127.0.0.1']);
  const ca = cert.cert;

  // Our server: the real entry point, as users run it.
  const ours = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'build.ts'), 'serve', '--registry', reg, '--host', '127.0.0.1', '--port', '0', '--cert', cert.certPath, '--key', cert.keyPath, '--workers', String(WORKERS)], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(ours);
  const oursPort = Number(await waitForOutput(ours, /Serving .* on https:\/\/127\.0\.0\.1:(\d+)/, 'serve'));
  ours.stdout?.resume(); // access log lines are discarded (but still produced and written)

  // nginx with a private configuration: same file, same certificate, loopback only.
  const nginxPort = await freePort();
  const prefix = join(work, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  writeFileSync(join(prefix, 'nginx.conf'), `worker_processes auto;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${prefix}/logs/access.log;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  types { application/json json; application/octet-stream bin; }
  sendfile on;
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${reg};
  }
}
`);
  let nginxAvailable = true;
  const nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(nginx);
  await new Promise<void>((resolve) => {
    nginx.once('error', () => { nginxAvailable = false; resolve(); });
    nginx.once('spawn', () => resolve());
  });
  let nginxVersion = '';
  if (nginxAvailable) {
    await ready(nginxPort, ca);
    const v = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
    nginxVersion = (v.stderr || v.stdout).trim().replace(/^nginx version: /, '');
  }
  await ready(oursPort, ca);

  process.stdout.write(`bench serve: ${CONCURRENCY} concurrent downloads of ${SIZE / 1048576} MiB over HTTPS on loopback, ${ROUNDS} rounds each, client ${CLIENT}, ${cpus().length} CPU(s), node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
  const best = { ours: 0, nginx: 0 };
  const cpu = { ours: Infinity, nginx: Infinity };
  let errors = 0;
  for (let i = 1; i <= ROUNDS; i++) {
    for (const [name, port, pid] of [['ours', oursPort, ours.pid!], ['nginx', nginxPort, nginx.pid!]] as const) {
      if (name === 'nginx' && !nginxAvailable) continue;
      const c0 = cpuSeconds(pid);
      const r = CLIENT === 'curl' ? await curlRound(port, cert.certPath) : await round(port, ca);
      const perGiB = (cpuSeconds(pid) - c0) / ((CONCURRENCY * SIZE) / 2 ** 30);
      errors += r.errors.length;
      for (const e of r.errors.slice(0, 5)) process.stdout.write(`  error (${name}): ${e}\n`);
      best[name] = Math.max(best[name], r.mbps);
      cpu[name] = Math.min(cpu[name], perGiB);
      process.stdout.write(`  round ${i} ${name.padEnd(5)}: ${r.mbps.toFixed(0).padStart(6)} MiB/s  (${r.seconds.toFixed(2)} s, server CPU ${perGiB.toFixed(2)} s/GiB, ${r.errors.length} error(s))\n`);
    }
  }
  process.stdout.write(`serve (ours, ${WORKERS} processes): ${best.ours.toFixed(0)} MiB/s (best round), server CPU ${cpu.ours.toFixed(2)} s/GiB\n`);
  if (nginxAvailable) {
    process.stdout.write(`nginx (${nginxVersion}, ${cpus().length} workers): ${best.nginx.toFixed(0)} MiB/s (best round), server CPU ${cpu.nginx.toFixed(2)} s/GiB\n`);
    process.stdout.write(`ratio ours/nginx: ${(best.ours / best.nginx).toFixed(2)} (target >= 0.90)\n`);
  } else {
    process.stdout.write(`nginx: not available (${NGINX}); install nginx-light to compare\n`);
  }
  process.stdout.write(`errors: ${errors}\n`);
  return errors ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  process.stderr.write(`bench serve failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  cleanup();
}
