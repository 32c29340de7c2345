/**
 * The executor seam and the Incus builder, against a fake `incus` (test/fixtures/fake-incus: a
 * container is a folder whose root/ its tar, mkdir and distrobuilder see as /) and the fake
 * distrobuilder: the inputs are pushed and only they are there, the outputs come back, the
 * container is launched privileged+nesting with the owner mark and deleted in every case
 * (success, failure, Ctrl-C), a later run removes only the containers whose owner is gone, and
 * `build --builder` runs every node of a real graph through it. Configuration errors name the
 * file and field.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { IncusExecutor, MARK_KEY, ownMark, ownerGone } from '../../lib/builder/incus-executor.ts';
import { builderConfig } from '../../lib/builder/config.ts';
import { NodeLog } from '../../lib/graph/distrobuilder.ts';
import type { ExecJob } from '../../lib/graph/executor.ts';
import type { RunEvent } from '../../lib/graph/events.ts';
import { UserError } from '../../lib/diagnostics.ts';
import { ROOT } from '../helpers.ts';
import { FAKE, parseReport, project } from '../graph/project.ts';

const FAKE_INCUS = join(ROOT, 'test', 'fixtures', 'fake-incus');

/** A fake remote and a scratch folder for one test; PATH finds the fake incus first. */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'bld-exec-'));
  const remote = join(dir, 'remote');
  mkdirSync(remote);
  const saved = { PATH: process.env.PATH, FAKE_INCUS_DIR: process.env.FAKE_INCUS_DIR, FAKE_DB: process.env.FAKE_DB };
  Object.assign(process.env, { PATH: `${FAKE_INCUS}:${process.env.PATH}`, FAKE_INCUS_DIR: remote, FAKE_DB: FAKE });
  return {
    dir, remote,
    calls: () => (existsSync(join(remote, 'calls.log')) ? readFileSync(join(remote, 'calls.log'), 'utf8').trim().split('\n') : []),
    live: () => readdirSync(join(remote, 'instances')),
    deleted: () => readdirSync(join(remote, 'deleted')),
    cleanup() {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A build-dir job of a tiny definition, its scratch folder under `dir`. */
function job(dir: string, signal = new AbortController().signal, env: NodeJS.ProcessEnv = {}) {
  const tmp = join(dir, 'tmp', 'node.x');
  mkdirSync(tmp, { recursive: true });
  const def = join(tmp, 'definition.yaml');
  writeFileSync(def, 'image:\n  distribution: debian\n  name: hello-debian\n  architecture: amd64\nsource:\n  downloader: debootstrap\n');
  const events: RunEvent[] = [];
  const log = new NodeLog(join(dir, 'node.log'));
  const j: ExecJob = {
    run: { exe: 'distrobuilder', args: ['build-dir', def, join(tmp, 'tree', 'rootfs')], tmp, target: 'hello:amd64/packages', log, env: { ...process.env, ...env }, signal, emit: (e) => events.push(e) },
    inputs: [def], outputs: [join(tmp, 'tree')],
  };
  return { j, tmp, def, events, log, dir };
}

test('a node runs in a container: launched privileged+nesting with the mark, inputs pushed, outputs pulled, container deleted', async () => {
  const s = setup();
  try {
    const { j, tmp, def, events, log } = job(s.dir);
    const ex = new IncusExecutor({ remote: 'far', image: 'far:abc123' });
    assert.is(await ex.run(j), undefined);
    await log.close();
    assert.equal(s.live(), [], 'no container left');
    const [name] = s.deleted();
    assert.match(name, /^bld-hello-amd64-packages-[0-9a-f]{6}$/);
    const config = readFileSync(join(s.remote, 'deleted', name, 'config'), 'utf8');
    for (const k of ['image=far:abc123', 'security.privileged=true', 'security.nesting=true', `${MARK_KEY}=${ownMark()}`]) assert.ok(config.includes(k), k);
    const root = join(s.remote, 'deleted', name, 'root');
    assert.is(readFileSync(join(root, def), 'utf8'), readFileSync(def, 'utf8'), 'the definition was pushed to the same path');
    assert.ok(existsSync(join(root, tmp, 'tree', 'rootfs', 'etc', 'layers')), 'distrobuilder wrote its tree inside the container');
    assert.ok(existsSync(join(tmp, 'tree', 'rootfs', 'etc', 'layers')), 'and the tree came back to this host');
    assert.ok(s.calls().some((c) => c.startsWith(`exec far:${name} --cwd ${tmp} -- distrobuilder --cache-dir ${join(tmp, 'work')} build-dir`)), 'distrobuilder ran through incus exec');
    const calls = s.calls();
    const booted = calls.indexOf(`exec far:${name} -- systemctl is-system-running --wait`);
    const pushed = calls.findIndex((c) => c.startsWith(`exec far:${name} -- tar`));
    assert.ok(booted >= 0 && booted < pushed, 'the inputs are pushed only after the boot (its tmpfiles-setup empties /tmp)');
    const stages = events.flatMap((e) => (e.type === 'stage' ? [e.stage] : []));
    for (const st of [`launching builder container ${name}`, 'pushing the inputs', 'Managing packages', 'pulling the outputs']) assert.ok(stages.includes(st), st);
    assert.match(readFileSync(log.file, 'utf8'), /msg="Managing packages"[\s\S]*# builder container .* deleted/, 'distrobuilder output streamed into the node log');
  } finally {
    s.cleanup();
  }
});

test('a failing build: the failure is reported, nothing is pulled back, the container is deleted', async () => {
  const s = setup();
  try {
    const { j, tmp } = job(s.dir, undefined, { FAKE_DB_FAIL: 'build-dir hello' });
    const failed = await new IncusExecutor({ remote: 'far', image: 'far:abc' }).run(j);
    assert.is(failed, 'distrobuilder exited with code 1');
    assert.equal(s.live(), []);
    assert.is(s.deleted().length, 1);
    assert.not.ok(existsSync(join(tmp, 'tree', 'rootfs')), 'no half output on this host');
  } finally {
    s.cleanup();
  }
});

test('a pull cut short is tried once more: the outputs come back, the log says why', async () => {
  const s = setup();
  try {
    process.env.FAKE_INCUS_CUT_ONCE = join(s.dir, 'cut');
    const { j, tmp, log } = job(s.dir);
    assert.is(await new IncusExecutor({ remote: 'far', image: 'far:abc' }).run(j), undefined);
    await log.close();
    assert.ok(existsSync(join(s.dir, 'cut')), 'the first pull was cut');
    assert.ok(existsSync(join(tmp, 'tree', 'rootfs', 'etc', 'layers')), 'the tree came back on the second pull');
    assert.match(readFileSync(log.file, 'utf8'), /# pulling the outputs failed: Error: websocket: close 1006 \(abnormal closure\).*; pulling again/);
  } finally {
    delete process.env.FAKE_INCUS_CUT_ONCE;
    s.cleanup();
  }
});

test('a launch that fails is reported with incus\'s message', async () => {
  const s = setup();
  try {
    process.env.FAKE_INCUS_LAUNCH_FAIL = '1';
    const { j } = job(s.dir);
    assert.match(await new IncusExecutor({ remote: 'far', image: 'far:abc' }).run(j) ?? '', /incus launch .* failed: Error: Failed instance creation: no space left/);
    assert.equal(s.live(), []);
  } finally {
    delete process.env.FAKE_INCUS_LAUNCH_FAIL;
    s.cleanup();
  }
});

test('Ctrl-C mid-build: the run stops as interrupted and the container is deleted', async () => {
  const s = setup();
  try {
    const ac = new AbortController();
    // A build far longer than any test: one that ran to its end logs the fake's next line.
    const { j, dir } = job(s.dir, ac.signal, { FAKE_DB_SLEEP: '600' });
    const running = new IncusExecutor({ remote: 'far', image: 'far:abc' }).run(j);
    let settled = false;
    void running.finally(() => { settled = true; });
    // Aborted once distrobuilder is in its sleep (its line before it is logged), however long a
    // loaded machine takes to get there.
    const logText = () => (existsSync(join(dir, 'node.log')) ? readFileSync(join(dir, 'node.log'), 'utf8') : '');
    while (!settled && !/Running hooks/.test(logText())) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!settled, 'the run ended before distrobuilder got to its sleep');
    ac.abort();
    assert.is(await running, 'interrupted');
    assert.not.match(logText(), /Managing packages/, 'did not wait for the build');
    assert.equal(s.live(), [], 'container deleted');
  } finally {
    s.cleanup();
  }
});

test('sweep: removes marked containers of this host whose owner is gone, nothing else', async () => {
  const s = setup();
  try {
    const dead = spawnSync('true');
    const make = (name: string, mark?: string) => {
      mkdirSync(join(s.remote, 'instances', name, 'root'), { recursive: true });
      writeFileSync(join(s.remote, 'instances', name, 'config'), `image=x\n${mark ? `${MARK_KEY}=${mark}\n` : ''}`);
    };
    make('bld-dead-1', `${hostname()}/${dead.pid}/123`);
    make('bld-mine-1', ownMark());
    make('bld-reused-pid-1', `${hostname()}/${process.pid}/1`);
    make('bld-elsewhere-1', `other-host/${dead.pid}/123`);
    make('bld-unmarked-1');
    make('web', `${hostname()}/${dead.pid}/123`);
    const lines = await new IncusExecutor({ remote: 'far', image: 'far:x' }).sweep(new AbortController().signal);
    assert.equal(s.deleted().sort(), ['bld-dead-1', 'bld-reused-pid-1']);
    assert.equal(s.live().sort(), ['bld-elsewhere-1', 'bld-mine-1', 'bld-unmarked-1', 'web']);
    assert.is(lines.length, 2);
    assert.match(lines[0], /removed builder container bld-(dead|reused-pid)-1 on far \(left by a killed build, pid \d+\)/);
    assert.ok(ownerGone(`${hostname()}/${dead.pid}/123`) && !ownerGone(ownMark()));
  } finally {
    s.cleanup();
  }
});

test('builder configuration: --builder, build.config.json, errors that name the file and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bld-conf-'));
  const file = (doc: unknown) => writeFileSync(join(dir, 'build.config.json'), typeof doc === 'string' ? doc : JSON.stringify(doc));
  const err = (opt?: string): string => {
    try {
      builderConfig(dir, opt);
    } catch (e) {
      assert.instance(e, UserError);
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  try {
    assert.is(builderConfig(dir, undefined), undefined, 'no file, no option: this host');
    assert.equal(builderConfig(dir, 'local'), { remote: 'local', origin: '--builder' });
    file({ builder: { remote: 'ci', jobs: 3, project: 'builds' } });
    assert.equal(builderConfig(dir, undefined), { remote: 'ci', project: 'builds', jobs: 3, image: undefined, distrobuilder: undefined, origin: 'build.config.json' });
    assert.is(builderConfig(dir, 'ci')?.jobs, 3, '--builder naming the same remote keeps its settings');
    assert.equal(builderConfig(dir, 'local'), { remote: 'local', origin: '--builder' });
    assert.is(builderConfig(dir, 'host'), undefined, '--builder host: this host');
    file({ builder: 'local' });
    assert.is(builderConfig(dir, undefined)?.remote, 'local');
    file({ builder: { remote: 'ci', jobs: 0 } });
    assert.is(err(), 'build.config.json: builder.jobs: expected a whole number >= 1');
    file({ builder: { remote: 'ci', job: 2 } });
    assert.match(err(), /^build\.config\.json: builder\.job: unknown field/);
    file({ builder: {} });
    assert.match(err(), /^build\.config\.json: builder\.remote: required/);
    file('{ not json');
    assert.match(err(), /^build\.config\.json: not valid JSON/);
    rmSync(join(dir, 'build.config.json'));
    assert.match(err('bad name!'), /^--builder: "bad name!" is not an Incus remote name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('build --builder: every node of the graph runs in its own builder container, none is left, the host distrobuilder is not used', async () => {
  const s = setup();
  const p = project();
  try {
    const rec = join(s.dir, 'record');
    cpSync(join(ROOT, 'appliances', 'builder'), join(p.dir, 'appliances', 'builder'), { recursive: true });
    // The builder image is built here first with the fake distrobuilder, then imported.
    const first = await p.run(['builder:amd64', '--no-index', '--json']);
    assert.is(first.code, 0, first.all);
    const r = await p.run(['hello:amd64', '--builder', 'far', '--json'], { DISTROBUILDER: '/bin/false', FAKE_DB_RECORD: rec });
    assert.is(r.code, 0, r.all);
    const rep = parseReport(r);
    assert.is(rep.targets.find((t) => t.target === 'hello:amd64')?.status, 'built');
    assert.equal(s.live(), [], 'no builder container left');
    const launched = s.calls().filter((c) => c.startsWith('launch '));
    // The shared base was built here with the builder image: hello's two layers remain.
    assert.is(launched.length, 2, 'packages layer and image: one container each');
    assert.ok(s.calls().some((c) => c.startsWith('image import ')), 'the builder image was imported into the remote');
    assert.is(readFileSync(rec, 'utf8').trim().split('\n').length, 2, 'the fake distrobuilder ran twice, inside the containers');
  } finally {
    p.cleanup();
    s.cleanup();
  }
});

test('build --builder to a remote that does not answer: a clear error, nothing built', async () => {
  const s = setup();
  const p = project();
  try {
    const r = await p.run(['hello:amd64', '--builder', 'down']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /builder down: the Incus remote does not answer: Error: Get "https:\/\/down:8443": connection refused/);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    p.cleanup();
    s.cleanup();
  }
});

test.run();
