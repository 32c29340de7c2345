/**
 * `test [name...]`: proves each appliance works in a real Incus. For each: build if stale,
 * re-index, serve the registry in-process on a free 127.0.0.1 port, add a temporary remote with
 * the pinned certificate (index caches cleared), launch a uniquely named container with every
 * setting at its example value, wait for the declared health check, run the declared tests,
 * then delete the container, the images Incus cached from the remote, and the remote, also on
 * failure or Ctrl-C.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defineVerb, opt } from '../cli.ts';
import { UserError } from '../diagnostics.ts';
import { hostArch } from '../arch.ts';
import { table } from './list.ts';
import { formatBytes } from '../format.ts';
import { CACHE_OPTIONS, JOBS_OPTION } from './build.ts';

/** One appliance's line in the results. */
export interface TestSummary {
  name: string;
  result: 'PASS' | 'FAIL';
  /** rootfs.squashfs bytes. */
  imageBytes?: number;
  launchToHealthySeconds?: number;
  checks: Array<{ name: string; pass: boolean }>;
  failure?: string;
}


export const testVerb = defineVerb({
  name: 'test',
  summary: 'build, serve and launch appliances in Incus; wait for health; exercise launch-time settings',
  usage: 'test [name...] [--json] [--plain] [--no-day-two] [-j N] [--compression METHOD] [--cache URL [--cache-ro]]',
  options: {
    json: opt.boolean({ description: 'print the results as JSON on stdout' }),
    plain: opt.boolean({ description: 'plain build output (one line per event)' }),
    jobs: JOBS_OPTION,
    compression: opt.string({ value: 'METHOD', description: 'squashfs compression of the images it builds (xz, zstd, zstd-3 for a fast edit loop) (default: xz)' }),
    builder: opt.string({ value: 'REMOTE', description: 'build in throw-away builder containers on this Incus remote (see build --builder)' }),
    'no-day-two': opt.boolean({ description: 'skip day two (bad values, changed values, restarts of the same container): launch, health and tests only' }),
    ...CACHE_OPTIONS,
  },
  examples: ['npx tsx build.ts test', 'npx tsx build.ts test nginx postgres'],
  async run(ctx) {
    const { loadAppliances } = await import('../compile/load.ts');
    const { incusAvailable, addRemote, removeRemote, removeCachedImage } = await import('../incus/client.ts');
    const { testAppliance, liveInstances, cachedImages, deleteTestInstance, testPrefix } = await import('../runtime/appliance-test.ts');
    const { runGraph } = await import('../graph/run.ts');
    const { PlainLogger } = await import('../graph/events.ts');
    const { startServer } = await import('../serve/server.ts');

    const { cacheSettings } = await import('../cache/config.ts');
    const cache = cacheSettings(ctx.root, ctx.options.cache, ctx.options['cache-ro'], ctx.env);
    const arch = hostArch();
    const apps = (await loadAppliances(ctx.appliancesDir, ctx.args)).filter((a) => {
      if (a.architectures.includes(arch)) return true;
      if (ctx.args.includes(a.name)) throw new UserError(`test ${a.name}: it does not declare the host architecture ${arch}; it cannot be launched here`);
      return false;
    });
    if (!apps.length) throw new UserError('test: no appliance declares the host architecture');
    const incusOk = await incusAvailable();
    if (!incusOk.ok) throw new UserError(`test needs a running Incus: ${incusOk.reason}; run \`sudo bash lib/host/setup.sh\``);

    const log = (line: string) => (ctx.options.json ? ctx.stderr : ctx.stdout)(line + '\n');
    const sinks = { out: (t: string) => (ctx.options.json ? ctx.stderr(t) : ctx.stdout(t)), err: ctx.stderr };
    const summaries = new Map<string, TestSummary>(apps.map((a) => [a.name, { name: a.name, result: 'FAIL', checks: [] }]));

    // 1. Build what is stale (and re-index).
    log(`== building ${apps.map((a) => `${a.name}:${arch}`).join(', ')} (only what is stale)`);
    const logger = new PlainLogger(sinks);
    const context = { debianMirror: ctx.options['debian-mirror'], alpineMirror: ctx.options['alpine-mirror'] };
    const { prepareConfiguredBuilder: prepareBuilder } = await import('../builder/config.ts');
    const { builderConfig } = await import('../builder/config.ts');
    const builderOption = ctx.options.builder;
    // With a builder, Ctrl-C during the build must reach it (its containers are deleted); the
    // launch phase below has its own handler.
    const signal = builderConfig(ctx.root, builderOption) ? ctx.interrupt() : undefined;
    const builder = await prepareBuilder({ root: ctx.root, option: builderOption, env: ctx.env, context, logger, signal: signal ?? new AbortController().signal });
    const report = await runGraph({
      root: ctx.root,
      specs: apps.map((a) => `${a.name}:${arch}`),
      jobs: ctx.options.jobs ?? builder?.jobs,
      ...(builder ? { executor: builder.executor, toolchain: builder.toolchain, signal } : {}),
      logger,
      ...(ctx.options.compression ? { options: { compression: ctx.options.compression } } : {}),
      env: ctx.env,
      context,
      cache,
    });
    if (report.exitCode === 130) return 130;
    const ready: typeof apps = [];
    const { readSbom } = await import('../trust/sbom.ts');
    const sboms = new Map<string, ReturnType<typeof readSbom>['packages']>();
    for (const a of apps) {
      const t = report.targets.find((r) => r.target === `${a.name}:${arch}`);
      const s = summaries.get(a.name)!;
      if (!t || (t.status !== 'built' && t.status !== 'fresh') || !t.outputs?.rootfs) {
        s.failure = `build ${t?.status ?? 'missing'}: ${t?.message ?? 'no output'}${t?.log ? ` (log: ${t.log})` : ''}`;
        continue;
      }
      s.imageBytes = statSync(t.outputs.rootfs).size;
      // The image's SBOM is compared with the running container (lib/runtime/appliance-test.ts).
      const sbomFile = join(t.outputs.dir, 'sbom.cdx.json');
      if (existsSync(sbomFile)) sboms.set(a.name, readSbom(readFileSync(sbomFile, 'utf8')).packages);
      else sboms.set(a.name, []);
      ready.push(a);
    }

    // 2. Serve the registry on a free loopback port and add a temporary remote.
    const remote = `${testPrefix(ctx.env)}appliance-test-${process.pid}`;
    let server: Awaited<ReturnType<typeof startServer>> | undefined;
    let interrupted = false;
    const cleanup = async () => {
      for (const [name, launching] of liveInstances) {
        // Let an in-flight launch settle (at most 3 minutes), then delete what it created.
        await Promise.race([launching, new Promise((r) => setTimeout(r, 180_000).unref())]);
        await deleteTestInstance(name);
        liveInstances.delete(name);
      }
      // The images Incus cached from the temporary remote: useless once it is gone (issue 14.6).
      for (const fp of cachedImages) {
        await removeCachedImage(fp);
        cachedImages.delete(fp);
      }
      await removeRemote(remote, server?.url);
      await server?.close();
    };
    const onSignal = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      log('interrupted: deleting test containers and the temporary remote...');
      void cleanup().finally(() => process.exit(130));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      if (ready.length) {
        server = await startServer({
          registryDir: join(ctx.root, 'registry'),
          host: '127.0.0.1',
          port: 0,
          certDir: join(ctx.root, '.certs'),
          log: () => {},
        });
        log(`== serving registry/ at ${server.url}; remote ${remote}`);
        await addRemote(remote, server.url, server.certificate.certPath);
      }
      // 3. Launch and check each appliance, one at a time (2 cores: keep timings honest).
      for (const a of ready) {
        if (interrupted) break;
        const r = await testAppliance(a, remote, log, sboms.get(a.name), { dayTwo: !ctx.options['no-day-two'] });
        const s = summaries.get(a.name)!;
        s.result = r.pass ? 'PASS' : 'FAIL';
        s.launchToHealthySeconds = r.launchToHealthySeconds;
        s.checks = r.checks.map((c) => ({ name: c.name, pass: c.pass }));
        s.failure = r.failure;
        if (!r.pass) log(`${a.name}: FAIL\n${r.failure}`);
      }
    } finally {
      await cleanup();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }

    const all = [...summaries.values()];
    if (ctx.options.json) {
      ctx.stdout(JSON.stringify({ results: all }, null, 2) + '\n');
    } else {
      const rows = [['APPLIANCE', 'RESULT', 'IMAGE', 'LAUNCH-TO-HEALTHY', 'CHECKS']];
      for (const s of all) rows.push([s.name, s.result, s.imageBytes === undefined ? '-' : formatBytes(s.imageBytes), s.launchToHealthySeconds === undefined ? '-' : `${s.launchToHealthySeconds.toFixed(1)} s`, `${s.checks.filter((c) => c.pass).length}/${s.checks.length}`]);
      ctx.stdout('\n' + table(rows));
      for (const s of all.filter((x) => x.result === 'FAIL')) ctx.stdout(`\n${s.name}: ${s.failure?.split('\n')[0] ?? 'failed'}\n`);
    }
    return all.every((s) => s.result === 'PASS') ? 0 : 1;
  },
});
