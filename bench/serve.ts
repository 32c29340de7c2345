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
 * Then the soak (issue 11): normal clients download and verify a file for BENCH_SOAK_SECONDS alone,
 * then as long again beside BENCH_SOAK_HOSTILE hostile sockets (slowloris on the handshake, the
 * request line and the headers, idle sockets, stalled readers, pipeliners), from other loopback
 * addresses; it reports the normal clients' throughput and latency in both phases and the
 * server's peak RSS and open files, and fails under 80% of the unattacked throughput, on any bad
 * download, or when a server process reaches 300 MiB RSS.
 *
 * Environment: BENCH_CONCURRENCY (50), BENCH_SIZE_MB (100), BENCH_ROUNDS (3; 0: soak only), BENCH_NGINX
 * (nginx executable, default `nginx`; install with `apt-get install -y nginx-light`),
 * BENCH_CLIENT (`curl`, one process per download, default when installed; or `node`),
 * BENCH_WORKERS (our server processes, default one per CPU like nginx's `worker_processes auto`),
 * BENCH_SOAK_SECONDS (60 per phase; 0: no soak), BENCH_SOAK_CLIENTS (8), BENCH_SOAK_HOSTILE (200),
 * BENCH_SOAK_FILE_MB (16).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
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

// ---------------------------------------------------------------------------------------------
// Soak: hostile sockets against the server while normal clients download and verify.

const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const SOAK_CLIENTS = Number(process.env.BENCH_SOAK_CLIENTS ?? 8);
const SOAK_HOSTILE = Number(process.env.BENCH_SOAK_HOSTILE ?? 200);
const SOAK_FILE = Number(process.env.BENCH_SOAK_FILE_MB ?? 16) * 1024 * 1024;
/** Hostile clients come from other loopback addresses than the normal ones (127.0.0.1). */
const HOSTILE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

/** What the server's guard cut or refused, by reason, from its access log (reset per soak phase). */
const guardCounts = new Map<string, number>();

/** Memory and file handles of the server: the primary and every descendant. */
function serverFootprint(pid: number): { rssMiB: number; maxRssMiB: number; fds: number; procs: number } {
  let rss = 0;
  let maxRss = 0;
  let fds = 0;
  let procs = 0;
  const visit = (p: number) => {
    try {
      const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      rss += kb;
      maxRss = Math.max(maxRss, kb);
      fds += readdirSync(`/proc/${p}/fd`).length;
      procs++;
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(c));
      }
    } catch { /* exited meanwhile */ }
  };
  visit(pid);
  return { rssMiB: rss / 1024, maxRssMiB: maxRss / 1024, fds, procs };
}

/** Samples {@link serverFootprint} until stopped; returns the peaks. */
function watchFootprint(pid: number): () => { rssMiB: number; maxRssMiB: number; fds: number } {
  const peak = { rssMiB: 0, maxRssMiB: 0, fds: 0 };
  const sample = () => {
    const f = serverFootprint(pid);
    peak.rssMiB = Math.max(peak.rssMiB, f.rssMiB);
    peak.maxRssMiB = Math.max(peak.maxRssMiB, f.maxRssMiB);
    peak.fds = Math.max(peak.fds, f.fds);
  };
  sample();
  const t = setInterval(sample, 250);
  return () => {
    clearInterval(t);
    sample();
    return peak;
  };
}

/** Normal clients: download the soak file in a loop until `until`, each verified by sha256. */
async function normalClients(port: number, ca: Buffer, sha256: string, until: number) {
  const lat: number[] = [];
  const failures: string[] = [];
  let bytes = 0;
  const t0 = Date.now();
  const one = () => new Promise<void>((resolve) => {
    const start = Date.now();
    const h = createHash('sha256');
    let n = 0;
    const fail = (why: string) => { failures.push(why); resolve(); };
    const r = request({ host: '127.0.0.1', port, path: '/images/soak.bin', ca, agent: false }, (res) => {
      res.on('data', (c: Buffer) => { h.update(c); n += c.length; });
      res.on('end', () => {
        if (res.statusCode !== 200 || n !== SOAK_FILE || h.digest('hex') !== sha256) return fail(`status ${res.statusCode}, ${n} bytes, sha256 ${n === SOAK_FILE ? 'differs' : '-'}`);
        bytes += n;
        lat.push(Date.now() - start);
        resolve();
      });
      res.on('error', (e) => fail(e.message));
    });
    r.on('error', (e) => fail(e.message));
    r.end();
  });
  await Promise.all(Array.from({ length: SOAK_CLIENTS }, async () => {
    while (Date.now() < until) await one();
  }));
  const seconds = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (x: number) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))] ?? NaN;
  return { mibps: bytes / 1048576 / seconds, downloads: lat.length, failures, p50: q(0.5), p95: q(0.95), max: lat.at(-1) ?? NaN };
}

/** One TLS context for every hostile socket: a context per connection cost the attacker ~1 ms of CPU, on cores it shares with the clients measured. */
let attackCtx: SecureContext | undefined;
const attackContext = () => (attackCtx ??= createSecureContext());

type HostileKind = 'slow headers' | 'slow request line' | 'slow handshake' | 'idle after handshake' | 'stalled reader' | 'pipeliner';
/** Share of each kind among the hostile sockets (BENCH_SOAK_KINDS=pipeliner,... keeps only some, to see what each costs). */
const HOSTILE_MIX: [HostileKind, number][] = ([
  ['slow headers', 0.2], ['slow request line', 0.1], ['slow handshake', 0.1], ['idle after handshake', 0.1], ['stalled reader', 0.25], ['pipeliner', 0.25],
] as [HostileKind, number][]).filter(([k]) => !process.env.BENCH_SOAK_KINDS || process.env.BENCH_SOAK_KINDS.split(',').includes(k));

/**
 * One hostile socket of `kind`, reopened 1 s after the server closes it, until `until`.
 * Returns how many connections it opened and the longest one the server tolerated.
 */
async function hostile(kind: HostileKind, port: number, localAddress: string, until: number): Promise<{ opened: number; longestMs: number }> {
  let opened = 0;
  let longestMs = 0;
  while (Date.now() < until) {
    opened++;
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      const raw = netConnect({ host: '127.0.0.1', port, localAddress });
      const timers: NodeJS.Timeout[] = [];
      const end = () => { timers.forEach(clearInterval); sock.destroy(); resolve(); };
      const stopAt = setTimeout(end, Math.max(0, until - Date.now()));
      timers.push(stopAt);
      let sock: Socket = raw;
      raw.on('error', () => {});
      raw.on('close', end);
      const drip = (write: () => void, ms: number) => timers.push(setInterval(write, ms));
      if (kind === 'slow handshake') {
        raw.on('connect', () => { raw.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); drip(() => raw.write(Buffer.from([1])), 1000); });
        return;
      }
      const t = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost', secureContext: attackContext() });
      sock = t;
      t.on('error', () => {});
      t.on('close', end);
      t.on('secureConnect', () => {
        if (kind === 'slow headers') {
          t.write('GET /images/soak.bin HTTP/1.1\r\nHost: x\r\n');
          drip(() => t.write('X-a: b\r\n'), 1000);
        } else if (kind === 'slow request line') {
          drip(() => t.write('G'), 1000);
        } else if (kind === 'stalled reader') {
          t.pause();
          t.write('GET /images/soak.bin HTTP/1.1\r\nHost: x\r\n\r\n');
        } else if (kind === 'pipeliner') {
          t.pause();
          t.write('GET /images/soak.bin HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(100));
        }
      });
    });
    longestMs = Math.max(longestMs, Date.now() - t0);
    if (Date.now() < until) await new Promise((r) => setTimeout(r, 1000));
  }
  return { opened, longestMs };
}

/**
 * Runs the attack in a child process (this file with BENCH_ATTACK set), so the hostile sockets
 * do not share an event loop with the normal clients they are measured against: like other hosts.
 */
function attackInChild(port: number, until: number): Promise<string[]> {
  const c = spawn(process.execPath, ['--import', 'tsx', import.meta.filename], { env: { ...process.env, BENCH_ATTACK: JSON.stringify({ port, until }) }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(c);
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  return new Promise((resolve) => c.on('close', () => resolve(out.trim().split('\n').filter(Boolean))));
}

/** Runs the hostile sockets until `until`; summarises per kind. */
async function attack(port: number, until: number): Promise<string[]> {
  const jobs: Promise<[HostileKind, { opened: number; longestMs: number }]>[] = [];
  let i = 0;
  for (const [kind, share] of HOSTILE_MIX) {
    for (let k = 0; k < Math.round(share * SOAK_HOSTILE); k++, i++) {
      jobs.push(hostile(kind, port, HOSTILE_ADDRESSES[i % HOSTILE_ADDRESSES.length], until).then((r) => [kind, r]));
    }
  }
  const by = new Map<HostileKind, { sockets: number; opened: number; longestMs: number }>();
  for (const [kind, r] of await Promise.all(jobs)) {
    const b = by.get(kind) ?? { sockets: 0, opened: 0, longestMs: 0 };
    by.set(kind, { sockets: b.sockets + 1, opened: b.opened + r.opened, longestMs: Math.max(b.longestMs, r.longestMs) });
  }
  // A paused socket (stalled reader, pipeliner) never reads, so it cannot see the server's reset:
  // its "longest held" is the phase length; the server's side is in the guard counts.
  return [...by].map(([kind, b]) => `${kind}: ${b.sockets} sockets, ${b.opened} connections, longest held ${(b.longestMs / 1000).toFixed(1)} s${kind === 'stalled reader' ? ' (as the client sees it)' : ''}`);
}

/**
 * The soak: SOAK_SECONDS of normal downloads alone, then SOAK_SECONDS of the same with
 * SOAK_HOSTILE hostile sockets. Passes when the attacked throughput is >= 80% of the
 * unattacked one, every download verifies, and the server stays under 300 MiB RSS.
 */
async function soak(reg: string, port: number, pid: number, ca: Buffer): Promise<number> {
  const block = randomFillSync(Buffer.alloc(1 << 20));
  const h = createHash('sha256');
  const fd = openSync(join(reg, 'images', 'soak.bin'), 'w');
  for (let off = 0; off < SOAK_FILE; off += block.length) {
    const b = block.subarray(0, Math.min(block.length, SOAK_FILE - off));
    writeSync(fd, b);
    h.update(b);
  }
  closeSync(fd);
  const sha256 = h.digest('hex');
  process.stdout.write(`soak: ${SOAK_CLIENTS} normal clients downloading ${SOAK_FILE / 1048576} MiB (sha256 checked) for ${SOAK_SECONDS} s alone, then ${SOAK_SECONDS} s beside ${SOAK_HOSTILE} hostile sockets from ${HOSTILE_ADDRESSES.join(', ')}; default server limits\n`);
  const phase = async (withAttack: boolean) => {
    const until = Date.now() + SOAK_SECONDS * 1000;
    const peak = watchFootprint(pid);
    const cpu0 = cpuSeconds(pid);
    guardCounts.clear();
    const [normal, hostileSummary] = await Promise.all([normalClients(port, ca, sha256, until), withAttack ? attackInChild(port, until) : Promise.resolve([])]);
    // Let the server settle, then see what it still holds.
    const serverCpu = cpuSeconds(pid) - cpu0;
    await new Promise((r) => setTimeout(r, 2000));
    const guard = [...guardCounts].map(([k, v]) => `${k} ${v}`).join(', ') || 'nothing';
    return { normal, hostileSummary, serverCpu, guard, peak: peak(), after: serverFootprint(pid) };
  };
  const show = (name: string, r: Awaited<ReturnType<typeof phase>>) => {
    const n = r.normal;
    process.stdout.write(`  ${name.padEnd(9)}: ${n.mibps.toFixed(0)} MiB/s, ${n.downloads} downloads, latency p50 ${n.p50} ms, p95 ${n.p95} ms, max ${n.max} ms, ${n.failures.length} failed; server CPU ${r.serverCpu.toFixed(1)} s; ` +
      `server peak RSS ${r.peak.rssMiB.toFixed(0)} MiB (largest process ${r.peak.maxRssMiB.toFixed(0)} MiB), peak open files ${r.peak.fds}; 2 s after: RSS ${r.after.rssMiB.toFixed(0)} MiB, ${r.after.fds} files\n`);
    for (const line of r.hostileSummary) process.stdout.write(`    ${line}\n`);
    process.stdout.write(`    server cut or refused (access log; refusals are logged once per address per 10 s): ${r.guard}\n`);
    for (const f of n.failures.slice(0, 5)) process.stdout.write(`    failure: ${f}\n`);
  };
  const calm = await phase(false);
  show('alone', calm);
  const hostileRun = await phase(true);
  show('attacked', hostileRun);
  const ratio = hostileRun.normal.mibps / calm.normal.mibps;
  const failures = calm.normal.failures.length + hostileRun.normal.failures.length;
  // Per process: an idle tsx-loaded Node process is ~100 MiB, so the sum over primary + workers
  // says more about the worker count than about the attack.
  const rssOk = hostileRun.peak.maxRssMiB < 300;
  process.stdout.write(`soak: attacked/alone throughput ${ratio.toFixed(2)} (target >= 0.80), ${failures} failed downloads, ` +
    `peak RSS of the largest server process ${hostileRun.peak.maxRssMiB.toFixed(0)} MiB (target < 300; all processes ${hostileRun.peak.rssMiB.toFixed(0)} MiB), peak open files ${hostileRun.peak.fds}\n`);
  return ratio >= 0.8 && failures === 0 && rssOk ? 0 : 1;
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
  // Access-log lines are produced and written as usual; only the guard's lines are counted (soak).
  ours.stdout?.on('data', (d: Buffer) => {
    for (const m of d.toString().matchAll(/"- \((too many [a-z ]+|[a-z]+ timeout)[;)]/g)) guardCounts.set(m[1], (guardCounts.get(m[1]) ?? 0) + 1);
  });

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
  if (ROUNDS > 0) process.stdout.write(`serve (ours, ${WORKERS} processes): ${best.ours.toFixed(0)} MiB/s (best round), server CPU ${cpu.ours.toFixed(2)} s/GiB\n`);
  if (ROUNDS === 0) {
    // soak only
  } else if (nginxAvailable) {
    process.stdout.write(`nginx (${nginxVersion}, ${cpus().length} workers): ${best.nginx.toFixed(0)} MiB/s (best round), server CPU ${cpu.nginx.toFixed(2)} s/GiB\n`);
    process.stdout.write(`ratio ours/nginx: ${(best.ours / best.nginx).toFixed(2)} (target >= 0.90)\n`);
  } else {
    process.stdout.write(`nginx: not available (${NGINX}); install nginx-light to compare\n`);
  }
  process.stdout.write(`errors: ${errors}\n`);
  const soakFailed = SOAK_SECONDS > 0 ? await soak(reg, oursPort, ours.pid!, ca) : 0;
  return errors || soakFailed ? 1 : 0;
}

if (process.env.BENCH_ATTACK) {
  const { port, until } = JSON.parse(process.env.BENCH_ATTACK) as { port: number; until: number };
  for (const line of await attack(port, until)) process.stdout.write(line + '\n');
  const cpu = process.cpuUsage();
  process.stdout.write(`attacker process CPU: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (the same 2 cores as the server and the clients)\n`);
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

try {
  process.exitCode = await main();
} catch (e) {
  process.stderr.write(`bench serve failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  cleanup();
}
