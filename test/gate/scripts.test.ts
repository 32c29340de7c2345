/**
 * Values that reach shell scripts: the one quoting helper, the compiler's generated scripts
 * (even for a name the gate would refuse), and the caddy configure script's split of site
 * addresses, which must never glob.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { compile } from '../../lib/compile/compile.ts';
import { shellQuote } from '../../lib/shell.ts';
import { debian } from '../../appliances/_base/debian.ts';
import type { Appliance } from '../../lib/compile/model.ts';
import { ROOT, TEST_MIRROR } from '../helpers.ts';

test('shellQuote: plain words stay, anything else is one single-quoted word', async () => {
  assert.is(shellQuote('nginx'), 'nginx');
  assert.is(shellQuote('getty@tty1.service'), 'getty@tty1.service');
  for (const v of ['cron; touch /tmp/x', '$(id)', "it's", '*', 'a b', '`id`', '']) {
    const r = await execa('sh', ['-c', `printf '%s' ${shellQuote(v)}`]);
    assert.is(r.stdout, v, `round trip of ${JSON.stringify(v)}`);
  }
});

test('compiled service step quotes each name (the compiler does not rely on the gate)', () => {
  const app = {
    name: 'svc', version: '1', description: 'x', base: debian(), architectures: ['amd64'],
    services: ['cron; touch /tmp/x'], health: { command: 'true' },
    dir: join(ROOT, 'appliances', 'svc'), module: join(ROOT, 'appliances', 'svc', 'appliance.ts'),
  } as unknown as Appliance;
  const c = compile(app, 'amd64', { debianMirror: TEST_MIRROR } as never);
  assert.match(c.yaml, /systemctl enable 'cron; touch \/tmp\/x'/);
  assert.not.match(c.yaml, /systemctl enable cron; touch/);
});

test('caddy configure: a wildcard site address is not expanded to file names', async () => {
  const work = mkdtempSync(join(tmpdir(), 'caddy-configure-'));
  try {
    const out = join(work, 'out');
    const cwd = join(work, 'cwd');
    mkdirSync(out);
    mkdirSync(cwd);
    for (const n of ['bin', 'etc', 'root']) writeFileSync(join(cwd, n), '');
    // The script as shipped, with its system paths pointed into the scratch folder.
    const script = readFileSync(join(ROOT, 'appliances', 'caddy', 'files', 'configure.sh'), 'utf8')
      .replace(/^dir=.*$/m, `dir=${out}`)
      .replace(/^(install|chown) .*$/gm, ':')
      .replace(/^if ! err=\$\(caddy adapt[\s\S]*$/m, 'exit 0\n');
    writeFileSync(join(work, 'configure.sh'), script);
    writeFileSync(join(work, 'env'), "SITE='* example.test'\nTLS=off\n");
    const r = await execa('sh', [join(work, 'configure.sh'), join(work, 'env')], { cwd, reject: false });
    assert.is(r.exitCode, 0, r.stderr);
    const sites = readFileSync(join(out, 'sites.caddy'), 'utf8');
    assert.match(sites, /^http:\/\/\*, http:\/\/example\.test \{$/m);
    assert.not.match(sites, /http:\/\/bin/);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
