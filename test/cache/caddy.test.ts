/**
 * Caddy as a READ-ONLY cache server, for real: Debian's caddy (2.6, no WebDAV module: its
 * `file_server` writes nothing, and answers PUT and DELETE as if they were GETs: 200 for a file
 * that is there, 404 otherwise) started on 127.0.0.1 with the one-file Caddyfile of docs/scale.md
 * (anything but GET and HEAD answered 403, so a read-write client is told it may not write), serving the store a real nginx with WebDAV PUT was filled through (a clean clone
 * building nginx:amd64 with the fake distrobuilder). A second clean clone with `--cache-ro`
 * through caddy fetches the image and builds nothing; one with a read-write `--cache` through
 * caddy is refused the upload (403) and carries on read-only.
 * Skipped (reported) when caddy or nginx is not installed; .ci/run installs both.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { project, type Project } from '../graph/project.ts';
import { freePort, nginxPath, runServer, startNginx, type CacheServer } from './nginx.ts';

const NGINX = nginxPath();
const CADDY = spawnSync('caddy', ['version'], { stdio: 'ignore' }).status === 0 ? 'caddy' : undefined;
const projects: Project[] = [];
let srv: CacheServer;
let caddy: { url: string; stop(): Promise<void> };

/** The Caddyfile of docs/scale.md, with this test's port and folder. */
function caddyfile(port: number, root: string): string {
  return `{
\tadmin off
\tauto_https off
}
http://127.0.0.1:${port} {
\troot * ${root}
\t@write not method GET HEAD
\trespond @write 403
\tfile_server
}
`;
}

/** Starts caddy on the store; resolves once it answers. */
async function startCaddy(root: string): Promise<typeof caddy> {
  const dir = mkdtempSync(join(tmpdir(), 'cch-caddy-'));
  const port = await freePort();
  const file = join(dir, 'Caddyfile');
  writeFileSync(file, caddyfile(port, root));
  mkdirSync(join(dir, 'home'));
  // Its own HOME and XDG folders: caddy writes its state there, not into root's.
  const env = { ...process.env, HOME: join(dir, 'home'), XDG_DATA_HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'home') };
  const child: ChildProcess = spawn(CADDY!, ['run', '--config', file, '--adapter', 'caddyfile'], { env, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  return { url, stop: await runServer('caddy', child, `${url}manifests/`, dir) };
}

function clone(): Project {
  const p = project();
  projects.push(p);
  return p;
}

if (!NGINX || !CADDY) {
  process.stdout.write(`skipped: the caddy read-only cache test needs the ${!CADDY ? 'caddy' : 'nginx'} package (apt-get install caddy nginx); .ci/run installs them\n`);
  test.skip('caddy as a read-only cache');
} else {
  test.before(async () => {
    srv = await startNginx(NGINX);
    caddy = await startCaddy(srv.data);
  });
  test.after(async () => {
    for (const p of projects) p.cleanup();
    await caddy?.stop();
    await srv?.stop();
  });

  test('the Caddyfile refuses PUT and DELETE (403), also of a file that is there', async () => {
    writeFileSync(join(srv.data, 'probe'), 'x');
    for (const method of ['PUT', 'DELETE']) {
      const r = await fetch(`${caddy.url}probe`, { method, ...(method === 'PUT' ? { body: 'y' } : {}) });
      await r.body?.cancel();
      assert.is(r.status, 403, method);
    }
    const r = await fetch(`${caddy.url}probe`);
    assert.is(await r.text(), 'x');
    rmSync(join(srv.data, 'probe'));
  });

  test('a store filled through nginx, read through caddy with --cache-ro: fetched, nothing built', async () => {
    const a = clone();
    const up = await a.run(['--no-index', 'nginx:amd64', '--cache', srv.rw]);
    assert.is(up.code, 0, up.all);
    const b = clone();
    const r = await b.run(['--no-index', 'nginx:amd64', '--cache', caddy.url, '--cache-ro']);
    assert.is(r.code, 0, r.all);
    assert.match(r.stdout, /^nginx:amd64: from cache in .*$/m);
    assert.equal(b.nodes(), [], 'no distrobuilder run at all');
  });

  test('a read-write --cache through caddy: the upload is refused, one warning, the run goes on read-only', async () => {
    const c = clone();
    const r = await c.run(['--no-index', 'hello:amd64', '--cache', caddy.url]);
    assert.is(r.code, 0, r.all);
    assert.match(r.all, /continuing read-only/);
    assert.is((r.all.match(/continuing read-only/g) ?? []).length, 1, 'said once');
    assert.match(r.stdout, /hello:amd64: built in/);
  });
}

test.run();
