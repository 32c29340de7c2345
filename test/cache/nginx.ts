/**
 * A real nginx (the Debian package's binary, not the system service) serving a scratch cache
 * folder on 127.0.0.1 with WebDAV PUT and DELETE, as docs/scale.md configures it:
 * `/rw/` read-write, `/ro/` the same folder refusing anything but GET and HEAD (403).
 * @module
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The nginx executable, or undefined when the package is not installed. */
export function nginxPath(): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    try {
      execFileSync(p, ['-v'], { stdio: 'ignore' });
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** A free TCP port on 127.0.0.1 (released before the server binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A server process started by a test: waits until `probe` answers, stops it and removes `dir`. */
export async function runServer(name: string, child: ChildProcess, probe: string, dir: string, tries = 150): Promise<() => Promise<void>> {
  let exited = false;
  child.on('exit', () => { exited = true; });
  for (let i = 0; i < tries; i++) {
    if (exited) throw new Error(`${name} exited at start (see ${dir})`);
    try {
      const r = await fetch(probe);
      await r.body?.cancel();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return async () => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
}

/** A running nginx cache server. */
export interface CacheServer {
  /** Read-write base URL (ends with `/`). */
  rw: string;
  /** The same store, GET/HEAD only. */
  ro: string;
  /** Where the objects are (`blobs/sha256/...`, `manifests/...`). */
  data: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts nginx with a config of its own in a temp prefix; resolves once it answers. */
export async function startNginx(exe: string): Promise<CacheServer> {
  const dir = mkdtempSync(join(tmpdir(), 'cch-nginx-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  // Workers run as nobody when the test runs as root: they must be able to write the store.
  chmodSync(dir, 0o755);
  chmodSync(data, 0o777);
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `daemon off;
worker_processes 1;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location /rw/ {
      alias ${data}/;
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
    location /ro/ {
      alias ${data}/;
      limit_except GET { deny all; }
    }
  }
}
`);
  const child: ChildProcess = spawn(exe, ['-c', conf, '-p', dir], { stdio: 'ignore' });
  const rw = `http://127.0.0.1:${port}/rw/`;
  const stop = await runServer('nginx', child, `${rw}probe`, dir, 100);
  return { rw, ro: `http://127.0.0.1:${port}/ro/`, data, port, stop };
}
