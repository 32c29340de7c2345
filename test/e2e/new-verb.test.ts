/**
 * End to end, for real: in a temporary copy of the project, `new <name> --package lighttpd
 * --port 80` then `validate <name>` and `test <name>` pass with no edit (a real build, a real
 * launch in Incus, the scaffold's health check and checks), and `new --remove <name>` leaves
 * no trace: the project's files byte for byte, nothing of it in `.cache/`, the registry or
 * Incus's image store.
 *
 * Cheap on purpose: the copy's `.cache/` is a link to the project's, so the build is the
 * lighttpd packages layer and the image layer on the existing Debian base (built once if
 * missing, then shared with the other suites); the appliance name is unique per run.
 *
 * REQUIRED when CI=true; elsewhere it runs when APPLIANCE_REAL_BUILD=1 and Incus and
 * distrobuilder are there, and is skipped with a message otherwise.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { incus, incusAvailable } from '../../lib/incus/client.ts';
import { distrobuilderVersion } from '../../lib/validate/distrobuilder.ts';
import { projectPaths } from '../../lib/graph/paths.ts';
import { unusedPaths } from '../../lib/graph/gc.ts';
import { ROOT, runBuildTs, scratchProject } from '../helpers.ts';

const CI = process.env.CI === 'true';
const wanted = CI || process.env.APPLIANCE_REAL_BUILD === '1';
const incusState = await incusAvailable();
const dbVersion = await distrobuilderVersion();
const env = { ...process.env, NO_COLOR: '1' };

/** Paths under the shared .cache/ that name the appliance. */
function cacheTraces(name: string): string[] {
  const cache = join(ROOT, '.cache');
  const out: string[] = [];
  for (const d of ['out', 'records', 'records/nodes', 'logs', 'tmp']) {
    if (!existsSync(join(cache, d))) continue;
    out.push(...readdirSync(join(cache, d)).filter((n) => n.startsWith(`${name}-`) || n.startsWith(`${name}.`)).map((n) => `${d}/${n}`));
  }
  return out;
}

async function incusTraces(name: string, fingerprints: string[]): Promise<{ containers: string[]; images: string[] }> {
  const c = await incus(['list', '--format', 'csv', '-c', 'n']);
  const i = await incus(['image', 'list', '--format', 'json']);
  const images = (JSON.parse(i.stdout || '[]') as Array<{ fingerprint: string }>).map((x) => x.fingerprint);
  return {
    containers: c.stdout.split('\n').filter((l) => l.startsWith(`appl-test-${name}-`)),
    images: images.filter((f) => fingerprints.includes(f)),
  };
}

if (!wanted || (!CI && (!incusState.ok || !dbVersion))) {
  console.log(`new-verb end-to-end suite skipped: ${!wanted ? 'set APPLIANCE_REAL_BUILD=1 (CI sets CI=true)' : incusState.reason ?? 'distrobuilder is not installed'}`);
  test.skip('end to end: new, validate, test, new --remove');
} else {
  const name = `new-e2e-${randomBytes(3).toString('hex')}`;
  const s = scratchProject();
  mkdirSync(join(s.dir, 'docs'));
  cpSync(join(ROOT, 'docs', 'appliances.md'), join(s.dir, 'docs', 'appliances.md'));
  cpSync(join(ROOT, 'test', 'golden'), join(s.dir, 'test', 'golden'), { recursive: true });
  mkdirSync(join(ROOT, '.cache'), { recursive: true });
  symlinkSync(join(ROOT, '.cache'), join(s.dir, '.cache'));
  const unusedBefore = new Set(unusedPaths(projectPaths(ROOT)).map((u) => u.path));
  const fingerprints: string[] = [];
  const run = (argv: string[]) => runBuildTs(argv, { cwd: s.dir, env });

  test('Incus and distrobuilder are available', () => {
    assert.ok(incusState.ok, `Incus is required here: ${incusState.reason}`);
    assert.ok(dbVersion, 'distrobuilder is required here');
  });

  test(`new ${name} --package lighttpd --port 80, then validate and test pass with no edit`, async () => {
    const t0 = Date.now();
    const n = await run(['new', name, '--package', 'lighttpd', '--port', '80']);
    assert.is(n.code, 0, n.all);
    const v = await run(['validate', name]);
    assert.is(v.code, 0, v.all);
    assert.match(v.stdout, /0 error\(s\), 0 warning\(s\), distrobuilder [\d.]+ validated 8 definition\(s\)/);
    const r = await run(['test', name, '--json']);
    const out = JSON.parse(r.stdout || '{"results":[]}') as { results: Array<{ name: string; result: string; failure?: string; imageBytes: number; launchToHealthySeconds: number; checks: Array<{ name: string; pass: boolean }> }> };
    const res = out.results[0];
    assert.is(res?.result, 'PASS', `${res?.failure}\n--- log\n${r.stderr.slice(-6000)}`);
    assert.is(r.code, 0);
    // The scaffold's two checks (port, greeting) plus the test verb's own (SBOM vs dpkg -l).
    assert.ok(res.checks.length >= 3, res.checks.map((c) => c.name).join('; '));
    assert.equal(res.checks.filter((c) => !c.pass), []);
    const base = /base\/debian-trixie:amd64: building/.test(r.stderr) ? 'the Debian base built first (shared with the other suites)' : 'on the existing base';
    const images = JSON.parse(readFileSync(join(s.dir, 'registry', 'streams', 'v1', 'images.json'), 'utf8')) as { products: Record<string, { versions: Record<string, { items: Record<string, { combined_squashfs_sha256?: string }> }> }> };
    for (const v of Object.values(images.products[`${name}:amd64:default`].versions)) fingerprints.push(v.items['incus.tar.xz'].combined_squashfs_sha256!);
    console.log(`${name} (lighttpd): new + validate + test in ${((Date.now() - t0) / 1000).toFixed(0)} s; image ${(res.imageBytes / 1048576).toFixed(1)} MiB, healthy after ${res.launchToHealthySeconds.toFixed(1)} s; ${base}`);
  });

  test(`new --remove ${name} leaves no trace: project files, .cache/, registry, Incus`, async () => {
    assert.ok(cacheTraces(name).length > 0, 'the build left outputs to remove');
    const r = await run(['new', '--remove', name]);
    assert.is(r.code, 0, r.all);
    assert.equal(cacheTraces(name), []);
    // A base layer is shared and kept by design (the next appliance on it reuses it), even when this
    // suite built it first and nothing else stands on it yet.
    const unusedAfter = unusedPaths(projectPaths(ROOT)).filter((u) => !u.why.startsWith('base/')).map((u) => u.path).filter((p) => !unusedBefore.has(p));
    assert.equal(unusedAfter, [], 'no tree or node record left unused');
    assert.not.ok(existsSync(join(s.dir, 'appliances', name)));
    assert.fixture(readFileSync(join(s.dir, 'docs', 'appliances.md'), 'utf8'), readFileSync(join(ROOT, 'docs', 'appliances.md'), 'utf8'));
    assert.equal(readdirSync(join(s.dir, 'test', 'golden')).sort(), readdirSync(join(ROOT, 'test', 'golden')).sort());
    assert.equal(readdirSync(join(s.dir, 'test', 'golden', 'layers')).sort(), readdirSync(join(ROOT, 'test', 'golden', 'layers')).sort());
    const images = JSON.parse(readFileSync(join(s.dir, 'registry', 'streams', 'v1', 'images.json'), 'utf8')) as { products: Record<string, unknown> };
    assert.equal(Object.keys(images.products), []);
    assert.equal(readdirSync(join(s.dir, 'registry', 'images')), [], 'no image file waits for a grace period');
    assert.not.ok(existsSync(join(s.dir, 'registry', 'appliances', `${name}.html`)), 'no catalogue page');
    assert.ok(fingerprints.length > 0);
    assert.equal(await incusTraces(name, fingerprints), { containers: [], images: [] });
  });

  test.after(async () => {
    // A run stopped half-way still cleans the shared .cache/ and Incus (no-op when already done).
    if (existsSync(join(s.dir, 'appliances', name)) || cacheTraces(name).length) await run(['new', '--remove', name]);
    s.cleanup();
  });
}

test.run();
