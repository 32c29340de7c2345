/**
 * A scratch project for build tests: a copy of the project plus two more appliances (`hello` on
 * Debian, `tiny` on Alpine, both amd64+arm64) so that "only nginx rebuilds" means something,
 * driven through `node --import tsx build.ts` with the fake distrobuilder.
 * @module
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { ROOT, runBuildTs, scratchProject, testEnv } from '../helpers.ts';

/** The fake distrobuilder. */
export const FAKE = join(ROOT, 'test', 'fixtures', 'fake-distrobuilder');

/** A fixed nginx (the catalogue's own changes over time; these tests must not). */
const NGINX = `import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/** nginx, as the build tests know it. */
export default defineAppliance({
  name: 'nginx',
  version: '1.26',
  description: 'nginx web server',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['nginx-light'],
  services: ['nginx'],
  files: [
    { source: 'nginx.conf', path: '/etc/nginx/nginx.conf' },
    { source: 'index.html', path: '/var/www/html/index.html' },
  ],
  ports: [{ port: 80, description: 'HTTP' }],
  health: { command: 'true' },
});
`;

const HELLO = `import { defineAppliance } from '../../lib/compile/model.ts';
import { debian } from '../_base/debian.ts';

/** A test appliance on Debian. */
export default defineAppliance({
  name: 'hello',
  version: '1.0',
  description: 'hello test appliance',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  packages: ['busybox'],
  files: [{ source: 'hello.txt', path: '/etc/hello.txt' }],
  health: { command: 'true' },
});
`;

const TINY = `import { defineAppliance } from '../../lib/compile/model.ts';
import { alpine } from '../_base/alpine.ts';

/** A test appliance on Alpine. */
export default defineAppliance({
  name: 'tiny',
  version: '1.0',
  description: 'tiny test appliance',
  base: alpine(),
  architectures: ['amd64', 'arm64'],
  packages: ['busybox'],
  health: { command: 'true' },
});
`;

/** Sets every mtime below `dir` one hour back, so fresh copies are not "racy" inputs. */
function ageTree(dir: string, when: Date): void {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) ageTree(p, when);
    utimesSync(p, when, when);
  }
}

/** A scratch project. */
export interface Project {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Runs build.ts with args (and extra env). */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; all: string }>;
  /** Starts build.ts without waiting (for kill and lock tests). */
  start(args: string[], env?: NodeJS.ProcessEnv): ResultPromise;
  /** `name:arch` of every image built (pack) since the last call (of this or {@link nodes}), sorted. */
  builds(): string[];
  /**
   * Every node built since the last call, sorted: `base/debian-trixie:amd64` (base),
   * `nginx:amd64/packages` (packages layer), `nginx:amd64` (image).
   */
  nodes(): string[];
  read(rel: string): string;
  /**
   * Writes a file. Its mtime is set a few seconds back, as for an edit made a while before the
   * build (a file modified within 2 s of being hashed is "racy" and always re-hashed).
   */
  write(rel: string, text: string): void;
  /** Edits a file (fails when `fn` changes nothing); mtime as for {@link write}. */
  edit(rel: string, fn: (text: string) => string): void;
  exists(rel: string): boolean;
  cleanup(): void;
}

const NAMES = ['nginx', 'hello', 'tiny'];
const ARCH: Record<string, string> = { amd64: 'amd64', x86_64: 'amd64', arm64: 'arm64', aarch64: 'arm64' };

/** Creates the scratch project. */
export function project(): Project {
  const s = scratchProject();
  const dir = s.dir;
  rmSync(join(dir, 'appliances', 'nginx'), { recursive: true, force: true });
  mkdirSync(join(dir, 'appliances', 'nginx', 'files'), { recursive: true });
  writeFileSync(join(dir, 'appliances', 'nginx', 'appliance.ts'), NGINX);
  writeFileSync(join(dir, 'appliances', 'nginx', 'files', 'nginx.conf'), 'events {}\nhttp { server { listen 80; root /var/www/html; } }\n');
  writeFileSync(join(dir, 'appliances', 'nginx', 'files', 'index.html'), '<h1>nginx</h1>\n');
  mkdirSync(join(dir, 'appliances', 'hello', 'files'), { recursive: true });
  writeFileSync(join(dir, 'appliances', 'hello', 'appliance.ts'), HELLO);
  writeFileSync(join(dir, 'appliances', 'hello', 'files', 'hello.txt'), 'hello\n');
  mkdirSync(join(dir, 'appliances', 'tiny'), { recursive: true });
  writeFileSync(join(dir, 'appliances', 'tiny', 'appliance.ts'), TINY);
  // Only our appliances: the catalogue may grow meanwhile, these tests must not.
  for (const n of readdirSync(join(dir, 'appliances'))) if (!n.startsWith('_') && !NAMES.includes(n)) rmSync(join(dir, 'appliances', n), { recursive: true });
  // Emulation "available" for the foreign architecture, whatever the host has.
  const binfmt = join(dir, '.binfmt');
  mkdirSync(binfmt);
  for (const q of ['qemu-aarch64', 'qemu-x86_64']) writeFileSync(join(binfmt, q), 'enabled\ninterpreter /usr/bin/qemu\n');
  ageTree(dir, new Date(Date.now() - 3600_000));
  const recordFile = join(dir, 'fake-builds.log');
  /** The fake's invocations since the last call, as node names. */
  const calls = () => {
    if (!existsSync(recordFile)) return [];
    const lines = readFileSync(recordFile, 'utf8').split('\n').filter(Boolean);
    rmSync(recordFile);
    return lines.map((l) => {
      const [image, arch, ...args] = l.split(' ');
      const cmd = args.find((a) => ['build-dir', 'pack-incus', 'build-incus'].includes(a)) ?? '?';
      const a = ARCH[arch] ?? arch;
      const base = /^base-(.+)-[^-]+$/.exec(image);
      if (base) return { cmd, node: `base/${base[1]}:${a}` };
      const name = NAMES.find((n) => image.startsWith(`${n}-`)) ?? image;
      return { cmd, node: cmd === 'build-dir' ? `${name}:${a}/packages` : `${name}:${a}` };
    });
  };
  const env = testEnv({ DISTROBUILDER: FAKE, FAKE_DB_RECORD: recordFile, APPLIANCE_BINFMT_DIR: binfmt, CI: '1', APPLIANCE_ALPINE_MIRROR: 'http://alpine.example/alpine' });
  return {
    dir,
    env,
    run: (args, extra = {}) => runBuildTs(args, { cwd: dir, env: { ...env, ...extra } }),
    start: (args, extra = {}) => execa(process.execPath, ['--import', 'tsx', join(dir, 'build.ts'), ...args], { cwd: dir, env: { ...env, ...extra }, reject: false, all: true }),
    builds: () => calls().filter((c) => c.cmd !== 'build-dir').map((c) => c.node).sort(),
    nodes: () => calls().map((c) => c.node).sort(),
    read: (rel) => readFileSync(join(dir, rel), 'utf8'),
    write: (rel, text) => {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), text);
      const past = new Date(Date.now() - 5000);
      utimesSync(join(dir, rel), past, past);
    },
    edit(rel, fn) {
      const before = readFileSync(join(dir, rel), 'utf8');
      const after = fn(before);
      if (after === before) throw new Error(`edit of ${rel} changed nothing`);
      writeFileSync(join(dir, rel), after);
      const past = new Date(Date.now() - 5000);
      utimesSync(join(dir, rel), past, past);
    },
    exists: (rel) => existsSync(join(dir, rel)),
    cleanup: s.cleanup,
  };
}

/** The `--json` document of a run. */
export interface JsonReport {
  targets: Array<{ target: string; status: string; reasons: string[]; message?: string; log?: string }>;
  dead: Array<{ target: string; reason: string }>;
}

/** Parses `--json` output; fails with the whole output when it is not JSON. */
export function parseReport(r: { stdout: string; stderr: string }): JsonReport {
  try {
    return JSON.parse(r.stdout) as JsonReport;
  } catch {
    throw new Error(`not JSON:\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  }
}

/** target -> "status: reason; reason" for compact assertions. */
export function summary(rep: JsonReport): Record<string, string> {
  return Object.fromEntries(rep.targets.map((t) => [t.target, t.reasons.length ? `${t.status}: ${t.reasons.join('; ')}` : t.status]));
}

/** Files left in .cache/tmp (an interrupted build must leave none after the next run). */
export function tmpLeft(p: Project): string[] {
  const d = join(p.dir, '.cache', 'tmp');
  return existsSync(d) ? readdirSync(d) : [];
}
