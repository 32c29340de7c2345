/**
 * The remote cache with the REAL distrobuilder (root, network, a few minutes; the host's Debian
 * mirror): nginx:amd64 built in one clean copy of the project with `--cache` (a real nginx
 * WebDAV server, test/cache/nginx.ts), then a second clean copy fetches it ("from cache"),
 * builds nothing, and gets the same image bytes. Runs only with APPLIANCE_REAL_BUILD=1 (CI sets
 * it) and the nginx package; otherwise skipped with a message.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBuildTs, scratchProject } from '../helpers.ts';
import { nginxPath, startNginx } from './nginx.ts';

const REAL = process.env.APPLIANCE_REAL_BUILD === '1';
const NGINX = nginxPath();
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

if (!REAL || !NGINX) {
  process.stdout.write(`skipped: the real remote-cache round trip runs only with APPLIANCE_REAL_BUILD=1 and the nginx package${NGINX ? '' : ' (nginx missing)'}\n`);
  test.skip('real build with --cache, then a clean clone fetches it');
} else {
  test('nginx:amd64 built with --cache in a clean clone; a second clean clone fetches it and builds nothing', async () => {
    const srv = await startNginx(NGINX);
    const a = scratchProject();
    const b = scratchProject();
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1' };
      delete env.DISTROBUILDER;
      delete env.APPLIANCE_DEBIAN_MIRROR;
      const t0 = Date.now();
      const cold = await runBuildTs(['nginx:amd64', '--plain', '--no-index', '--cache', srv.rw], { cwd: a.dir, env });
      const coldMs = Date.now() - t0;
      assert.is(cold.code, 0, cold.all);
      assert.match(cold.stdout, /^nginx:amd64: uploaded to the cache/m);
      assert.match(cold.stdout, /^base\/debian-trixie:amd64: uploaded to the cache/m);
      const t1 = Date.now();
      // (distrobuilder stays: its version is part of every key.)
      const hit = await runBuildTs(['nginx:amd64', '--plain', '--no-index', '--cache', srv.rw], { cwd: b.dir, env });
      const hitMs = Date.now() - t1;
      assert.is(hit.code, 0, hit.all);
      assert.match(hit.stdout, /^nginx:amd64: from cache in /m);
      assert.not.match(hit.stdout, /: built in /);
      for (const f of ['incus.tar.xz', 'rootfs.squashfs', 'sbom.cdx.json']) {
        assert.is(sha(join(b.dir, '.cache/out/nginx-amd64', f)), sha(join(a.dir, '.cache/out/nginx-amd64', f)), f);
      }
      process.stdout.write(`cold build with upload: ${(coldMs / 1000).toFixed(1)} s; second clean clone from the cache: ${(hitMs / 1000).toFixed(1)} s (${((100 * hitMs) / coldMs).toFixed(1)}%): ${/^nginx:amd64: from cache in .*$/m.exec(hit.stdout)?.[0]}\n`);
    } finally {
      a.cleanup();
      b.cleanup();
      await srv.stop();
    }
  });
}

test.run();
