/**
 * A REAL distrobuilder build of nginx:amd64 (root or passwordless sudo, network, ~1-2 min; with
 * `--force` its own layers, packages and image, are rebuilt, on the base when it is built already),
 * in the project itself (its .cache/ and registry/, so the end-to-end suite reuses the image
 * instead of building it twice), with the Debian mirror of the host's apt configuration.
 * Runs only with APPLIANCE_REAL_BUILD=1 (CI sets it); otherwise skipped with a message.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runBuildTs } from '../helpers.ts';

const REAL = process.env.APPLIANCE_REAL_BUILD === '1';

if (!REAL) {
  process.stdout.write('skipped: the real distrobuilder build of nginx:amd64 runs only with APPLIANCE_REAL_BUILD=1\n');
  test.skip('real distrobuilder build of nginx:amd64');
} else {
  test('a real build of nginx:amd64 succeeds, and a second run is a no-op', async () => {
    {
      // The host's mirror (lib/compile/context.ts derives it from apt); the real distrobuilder.
      const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', NO_COLOR: '1' };
      delete env.DISTROBUILDER;
      delete env.APPLIANCE_DEBIAN_MIRROR;
      const t0 = Date.now();
      const r = await runBuildTs(['nginx:amd64', '--force', '--plain'], { cwd: ROOT, env });
      const ms = Date.now() - t0;
      assert.is(r.code, 0, r.all);
      const out = join(ROOT, '.cache/out/nginx-amd64');
      const meta = execFileSync('tar', ['-xJOf', join(out, 'incus.tar.xz'), 'metadata.yaml'], { encoding: 'utf8' });
      assert.match(meta, /^architecture: (amd64|x86_64)$/m);
      assert.match(meta, /name: nginx-/);
      const rootfs = statSync(join(out, 'rootfs.squashfs')).size;
      assert.ok(rootfs > 10 << 20, `rootfs.squashfs is ${rootfs} bytes`);
      const list = execFileSync('unsquashfs', ['-l', join(out, 'rootfs.squashfs')], { encoding: 'utf8', maxBuffer: 256 << 20 });
      assert.match(list, /squashfs-root\/usr\/sbin\/nginx/);
      const nodes = [...r.all.matchAll(/^(\S+): built in (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`).join(', ');
      process.stdout.write(`real build of nginx:amd64 (--force): ${(ms / 1000).toFixed(0)} s (${nodes}), rootfs.squashfs ${(rootfs / 1048576).toFixed(1)} MiB\n`);
      const t1 = Date.now();
      const again = await runBuildTs(['nginx:amd64', '--plain'], { cwd: ROOT, env });
      assert.is(again.code, 0, again.all);
      assert.match(again.stdout, /built 0, fresh 1, failed 0/);
      process.stdout.write(`second run (no-op): ${Date.now() - t1} ms\n`);
    }
  });
}

test.run();
