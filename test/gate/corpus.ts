/**
 * The gate's corpus: broken appliances, each with where its first error is and what it says.
 * Every verb (validate, compile, build, test, profile) must refuse each one with the same
 * located message (`appliances/<dir>/appliance.ts:<line>:<col> <message>`), exit 1 and leave
 * nothing in `.cache/` or `registry/`.
 * @module
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One broken appliance. */
export interface Case {
  /** Folder name under appliances/. */
  dir: string;
  /** appliance.ts text. */
  source: string;
  /** Line (1-based) of the error, as every verb must print it. */
  line: number;
  /** The message after the location. */
  message: RegExp;
  /** Files under the appliance folder: text, `{ link }` for a symlink, `{ dir: true }` for a folder. */
  files?: Record<string, string | { link: string } | { dir: true }>;
  /** The import never finishes: checked in child processes only, under a 1 s limit. */
  hangs?: boolean;
}

const head = `import { defineAppliance } from '../../lib/compile/model.ts';\nimport { debian } from '../_base/debian.ts';\n`;

/**
 * A valid appliance with `extra` lines after the standard fields. Lines: 1-2 imports,
 * 3 `export default`, 4 name, 5 version, 6 description, 7 base, 8 architectures, 9 health,
 * 10 the first `extra` line.
 */
function app(name: string, extra = ''): string {
  return `${head}export default defineAppliance({
  name: '${name}',
  version: '1.0',
  description: 'gate test appliance',
  base: debian(),
  architectures: ['amd64', 'arm64'],
  health: { command: 'true' },
${extra}});
`;
}

const conf = { 'files/a.conf': 'a = 1\n' };
const file = (path: string) => `  files: [{ source: 'a.conf', path: '${path}' }],\n`;
const configure = { 'files/configure.sh': '#!/bin/sh\n' };

/** The corpus. */
export const CASES: Case[] = [
  // Publishing and identity.
  { dir: 'secret-default', source: app('secret-default', `  configure: 'configure.sh',\n  settings: { password: { description: 'pw', secret: true, default: 'hunter2' } },\n`), line: 11, message: /settings\.password\.default: a secret must not have a default \(it would be baked into the image\)/, files: configure },
  { dir: 'secret-empty', source: app('secret-empty', `  configure: 'configure.sh',\n  settings: { password: { description: 'pw', secret: true, default: '' } },\n`), line: 11, message: /settings\.password\.default: a secret must not have a default/, files: configure },
  { dir: 'impostor', source: app('redis'), line: 4, message: /name: "redis" must equal its folder name "impostor"/ },
  { dir: 'escape', source: app('../../escape'), line: 4, message: /name: "\.\.\/\.\.\/escape" is not usable as an image alias/ },
  { dir: 'upper', source: app('Upper'), line: 4, message: /name: "Upper" is not usable as an image alias/ },
  // Host files must not reach an image.
  { dir: 'link-out', source: app('link-out', `  files: [{ source: 'hostname', path: '/etc/x' }],\n`), line: 10, message: /files\[0\]\.source: files\/hostname is a link to \/etc\/hostname, outside the appliance folder and appliances\/_shared\//, files: { 'files/hostname': { link: '/etc/hostname' } } },
  { dir: 'link-dir-out', source: app('link-dir-out', `  files: [{ source: 'etc/hostname', path: '/etc/x' }],\n`), line: 10, message: /files\[0\]\.source: files\/etc\/hostname is a link to \/etc\/hostname, outside/, files: { 'files/etc': { link: '/etc' } } },
  { dir: 'link-sibling', source: app('link-sibling', `  files: [{ source: 'other.ts', path: '/etc/x' }],\n`), line: 10, message: /files\[0\]\.source: files\/other\.ts is a link to .*\/appliances\/impostor\/appliance\.ts, outside/, files: { 'files/other.ts': { link: '../../impostor/appliance.ts' } } },
  { dir: 'source-dotdot', source: app('source-dotdot', `  files: [{ source: '../appliance.ts', path: '/etc/x' }],\n`), line: 10, message: /files\[0\]\.source: "\.\.\/appliance\.ts" escapes files\// },
  { dir: 'source-dir', source: app('source-dir', `  files: [{ source: 'sub', path: '/etc/x' }],\n`), line: 10, message: /files\[0\]\.source: files\/sub is not a regular file/, files: { 'files/sub': { dir: true } } },
  { dir: 'configure-dir', source: app('configure-dir', `  configure: 'somedir',\n  settings: { port: { description: 'port', default: '80' } },\n`), line: 10, message: /configure: files\/somedir is not a regular file/, files: { 'files/somedir': { dir: true } } },
  { dir: 'configure-link', source: app('configure-link', `  configure: 'configure.sh',\n  settings: { port: { description: 'port', default: '80' } },\n`), line: 10, message: /configure: files\/configure\.sh is a link to \/etc\/hostname, outside/, files: { 'files/configure.sh': { link: '/etc/hostname' } } },
  { dir: 'configure-missing', source: app('configure-missing', `  configure: 'nope.sh',\n  settings: { port: { description: 'port', default: '80' } },\n`), line: 10, message: /configure: files\/nope\.sh does not exist/ },
  { dir: 'raw-copy', source: app('raw-copy', `  raw: { files: [{ generator: 'copy', source: '/etc/shadow', path: '/etc/x' }] },\n`), line: 10, message: /raw\.files\[0\]\.source: host paths are not allowed/ },
  // Paths inside the image.
  { dir: 'path-dotdot', source: app('path-dotdot', file('/etc/../../../root/.bashrc')), line: 10, message: /files\[0\]\.path: "\/etc\/\.\.\/\.\.\/\.\.\/root\/\.bashrc" is not a normalised path/, files: conf },
  { dir: 'path-double-slash', source: app('path-double-slash', file('/etc//a.conf')), line: 10, message: /files\[0\]\.path: "\/etc\/\/a\.conf" is not a normalised path .*write \/etc\/a\.conf/, files: conf },
  { dir: 'path-dot', source: app('path-dot', file('/etc/./a.conf')), line: 10, message: /files\[0\]\.path: "\/etc\/\.\/a\.conf" is not a normalised path/, files: conf },
  { dir: 'path-trailing', source: app('path-trailing', file('/etc/a.conf/')), line: 10, message: /files\[0\]\.path: "\/etc\/a\.conf\/" is not a normalised path/, files: conf },
  { dir: 'path-relative', source: app('path-relative', file('etc/a.conf')), line: 10, message: /files\[0\]\.path: must be an absolute path inside the image/, files: conf },
  { dir: 'path-newline', source: app('path-newline', file('/etc/a\\n.conf')), line: 10, message: /files\[0\]\.path: ".*" holds a control character/, files: conf },
  { dir: 'volume-dotdot', source: app('volume-dotdot', `  volumes: [{ path: '/var/lib/../../x', description: 'data' }],\n`), line: 10, message: /volumes\[0\]\.path: "\/var\/lib\/\.\.\/\.\.\/x" is not a normalised path/ },
  { dir: 'raw-path', source: app('raw-path', `  raw: { files: [{ generator: 'dump', path: '/etc/../x', content: 'x' }] },\n`), line: 10, message: /raw\.files\[0\]\.path: "\/etc\/\.\.\/x" is not a normalised path/ },
  // Names that reach scripts: their grammars.
  { dir: 'service-shell', source: app('service-shell', `  services: ['cron; touch /tmp/x'],\n`), line: 10, message: /services: "cron; touch \/tmp\/x" is not a service name/ },
  { dir: 'service-option', source: app('service-option', `  services: ['--now'],\n`), line: 10, message: /services: "--now" is not a service name/ },
  { dir: 'service-subst', source: app('service-subst', `  services: ['$(id)'],\n`), line: 10, message: /services: "\$\(id\)" is not a service name/ },
  { dir: 'package-shell', source: app('package-shell', `  packages: ['nginx;id'],\n`), line: 10, message: /packages: "nginx;id" is not a valid apt package name/ },
  { dir: 'package-option', source: app('package-option', `  packages: ['-oAPT::Get=x'],\n`), line: 10, message: /packages: "-oAPT::Get=x" is not a valid apt package name/ },
  { dir: 'remove-shell', source: app('remove-shell', `  removePackages: ['a b'],\n`), line: 10, message: /removePackages: "a b" is not a valid apt package name/ },
  { dir: 'uid-name', source: app('uid-name', `  files: [{ source: 'a.conf', path: '/etc/a.conf', uid: 'root' }],\n`), line: 10, message: /files\[0\]\.uid: "root" is not a numeric id/, files: conf },
  { dir: 'change-type', source: app('change-type', `  configure: 'configure.sh',\n  settings: { n: { description: 'n', type: { kind: 'integer' }, example: '1',\n    change: { value: 'abc', check: 'true' } } },\n`), line: 12, message: /settings\.n\.change\.value: "abc" breaks its type: expected an integer/, files: configure },
  { dir: 'change-same', source: app('change-same', `  configure: 'configure.sh',\n  settings: { n: { description: 'n', example: '1',\n    change: { value: '1', check: ' ' } } },\n`), line: 12, message: /change\.value: equals the value the test launches with \(example\): nothing would change/, files: configure },
  { dir: 'setting-dot', source: app('setting-dot', `  configure: 'configure.sh',\n  settings: {\n    port: { description: 'port', default: '80' },\n    'tls.cert': { description: 'cert' },\n  },\n`), line: 13, message: /settings\.tls\.cert: not usable in the config key user\.setting-dot\.tls\.cert/, files: configure },
  { dir: 'no-shebang', source: app('no-shebang', `  actions: [{ trigger: 'post-files', script: 'echo hi' }],\n`), line: 10, message: /actions\[0\]\.script: must start with a shebang line/ },
  { dir: 'raw-unknown', source: app('raw-unknown', `  raw: { image: { colour: 'blue' } } as never,\n`), line: 10, message: /raw: unknown distrobuilder key "image\.colour"/ },
  // Import failures, located where they happen.
  { dir: 'syntax', source: `${head}export default defineAppliance({ name: 'syntax', \n`, line: 4, message: /syntax error: Expected identifier but found end of file/ },
  { dir: 'throws', source: `${head}\nthrow new Error('boom at import');\n`, line: 4, message: /cannot load module: boom at import/ },
  { dir: 'missing-module', source: `${head}import { helper } from './helper.ts';\nexport default helper;\n`, line: 3, message: /cannot load module: cannot find \.\/helper\.ts/ },
  { dir: 'no-default', source: `${head}export const x = 1;\n`, line: 1, message: /no default export/ },
  { dir: 'loop', source: `${head}while (true) {}\n`, line: 1, message: /import did not finish within 1 s/, hangs: true },
  { dir: 'await-forever', source: `${head}await new Promise(() => { setInterval(() => {}, 1000); });\nexport default {};\n`, line: 1, message: /import did not finish within 1 s/, hangs: true },
];

/** Writes every case's folder into `appliancesDir`. */
export function writeCases(appliancesDir: string, cases: Case[] = CASES): void {
  for (const c of cases) {
    const dir = join(appliancesDir, c.dir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'appliance.ts'), c.source);
    for (const [rel, content] of Object.entries(c.files ?? {})) {
      const abs = join(dir, rel);
      mkdirSync(join(abs, '..'), { recursive: true });
      if (typeof content === 'string') writeFileSync(abs, content);
      else if ('link' in content) symlinkSync(content.link, abs);
      else mkdirSync(abs, { recursive: true });
    }
  }
}

/** The located line every verb must print for `c`: `appliances/<dir>/appliance.ts:<line>:<col> ...`. */
export function locatedLine(c: Case, stderr: string): string | undefined {
  const re = new RegExp(`^appliances/${c.dir}/appliance\\.ts:${c.line}:(\\d+) (.*)$`, 'gm');
  return [...stderr.matchAll(re)].find((m) => c.message.test(m[2]))?.[0];
}
