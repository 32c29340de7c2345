/**
 * Semantic checks of a loaded appliance: everything the type checker cannot see (files that
 * files/ does not contain, scripts without a shebang, names unusable as an alias...). Each
 * problem names the field it is about, as a path (`files[2].source`) that `locate.ts` turns
 * into a line and column. Values are checked defensively: a module with type errors still
 * imports (tsx erases types), so any field may hold anything.
 * @module
 */
import { checkValue, kindProblems } from '../compile/setting-kinds.ts';
import { ADOPT_KEY } from '../compile/settings.ts';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, relative, resolve } from 'node:path';
import { ARCHES, type Appliance, type Setting } from '../compile/model.ts';
import { canonicalDefinition } from '../compile/yaml.ts';

/** A semantic problem, located by field path. */
export interface FieldProblem {
  /** Field path inside the defineAppliance object, e.g. `files[1].source`; '' for the call. */
  field: string;
  message: string;
  severity: 'error' | 'warning';
}

const NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;
const SETTING_RE = /^[a-z0-9][a-z0-9_-]*$/;
const PACKAGE_RE: Record<string, RegExp> = {
  apt: /^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?$/,
  apk: /^[a-z0-9][a-z0-9+._-]*(?:[<>=~]+[A-Za-z0-9._-]+)?$/,
};
// systemd unit names (and OpenRC service names): no shell text, never an option (no leading -).
const SERVICE_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*(?:@[A-Za-z0-9_.:-]*)?(?:\.(?:service|socket|timer|path|target|mount))?$/;
const ID_RE = /^\d{1,10}$/;
const MODE_RE = /^0?[0-7]{3}$/;

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

/** Entries under `dir`, recursively; a symlink is an entry (never followed: it may lead anywhere). */
function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isDirectory()) out.push(...listFiles(join(dir, e.name), `${prefix}${e.name}/`));
    else out.push(`${prefix}${e.name}`);
  }
  return out;
}

/** Whether `p` is inside folder `dir` (or is it). */
function inside(dir: string, p: string): boolean {
  const r = relative(dir, p);
  return !r.startsWith('..') && !r.startsWith('/');
}

/**
 * Why a file the image receives from `files/` cannot be shipped, or undefined: it must exist, be
 * a regular file, and its real path (symlinks followed) must stay inside the appliance folder or
 * `appliances/_shared/`, so no file of the build host reaches an image.
 */
export function shippedFileProblem(app: Appliance, source: string): string | undefined {
  const filesDir = join(app.dir, 'files');
  const abs = resolve(filesDir, source);
  if (!inside(filesDir, abs)) return `"${source}" escapes files/`;
  if (!existsSync(abs)) return `files/${source} does not exist`;
  if (!statSync(abs).isFile()) return `files/${source} is not a regular file`;
  const real = realpathSync(abs);
  const shared = join(dirname(app.dir), '_shared');
  const roots = [app.dir, shared].map((d) => (existsSync(d) ? realpathSync(d) : d));
  if (!roots.some((d) => inside(d, real))) return `files/${source} is a link to ${real}, outside the appliance folder and appliances/_shared/`;
  return undefined;
}

/**
 * Why `p` is not usable as a path inside the image, or undefined: absolute and normalised (no
 * `.` or `..` segment, no `//`, no trailing `/`), no control characters. distrobuilder joins it
 * onto the root tree as root on the build host, so `..` would write outside it.
 */
export function imagePathProblem(p: unknown): string | undefined {
  if (!isStr(p) || !p.startsWith('/')) return 'must be an absolute path inside the image';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(p)) return `"${JSON.stringify(p).slice(1, -1)}" holds a control character`;
  if (p !== '/' && (posix.normalize(p) !== p || p.endsWith('/'))) return `"${p}" is not a normalised path (no ".", "..", "//" or trailing "/"; write ${posix.normalize(p).replace(/(.)\/$/, '$1')})`;
  return undefined;
}

/** The field path of a setting: bracketed when the key is not a plain word (`settings["tls.cert"]`). */
function settingField(key: string): string {
  return /^[A-Za-z0-9_$-]+$/.test(key) ? `settings.${key}` : `settings[${JSON.stringify(key)}]`;
}

/** Checks one appliance. Returns problems in field order. */
export function checkAppliance(app: Appliance): FieldProblem[] {
  const p: FieldProblem[] = [];
  const err = (field: string, message: string) => p.push({ field, message, severity: 'error' });
  const warn = (field: string, message: string) => p.push({ field, message, severity: 'warning' });
  const folder = basename(app.dir);
  const filesDir = join(app.dir, 'files');

  // name / version / description
  if (!isStr(app.name) || !app.name) err('name', 'name: required string');
  else {
    if (!NAME_RE.test(app.name)) err('name', `name: "${app.name}" is not usable as an image alias (lower-case letters, digits and inner dashes, at most 63 characters)`);
    if (app.name !== folder) err('name', `name: "${app.name}" must equal its folder name "${folder}"`);
  }
  if (!isStr(app.version) || !app.version) err('version', 'version: required string, e.g. "1.26"');
  else if (!VERSION_RE.test(app.version)) err('version', `version: "${app.version}" is not usable in the alias "<name>/<version>" (letters, digits, . _ + ~ -)`);
  if (!isStr(app.description) || !app.description.trim()) err('description', 'description: required, one line saying what the appliance is');
  else if (app.description.includes('\n')) err('description', 'description: must be one line');

  // base
  const base = app.base;
  const baseOk = base && typeof base === 'object' && typeof base.source === 'function' && base.architectures;

  // architectures
  if (!Array.isArray(app.architectures) || app.architectures.length === 0) {
    err('architectures', `architectures: required non-empty list of ${ARCHES.join(', ')}`);
  } else {
    const seen = new Set<string>();
    app.architectures.forEach((a, i) => {
      if (!ARCHES.includes(a as never)) err(`architectures[${i}]`, `architectures: unknown architecture "${String(a)}" (known: ${ARCHES.join(', ')}; write Debian names, the base maps them)`);
      else if (baseOk && !base.architectures[a as keyof typeof base.architectures]) err(`architectures[${i}]`, `architectures: base ${base.name} has no ${a}`);
      if (seen.has(String(a))) err(`architectures[${i}]`, `architectures: "${String(a)}" listed twice`);
      seen.add(String(a));
    });
  }

  // packages
  if (app.packageManager !== undefined && baseOk && app.packageManager !== base.packageManager) {
    err('packageManager', `packageManager: "${app.packageManager}" does not match base ${base.name}, which uses ${base.packageManager}`);
  }
  for (const field of ['packages', 'removePackages'] as const) {
    const list = app[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) { err(field, `${field}: must be a list of package names`); continue; }
    const re = baseOk ? PACKAGE_RE[base.packageManager] : undefined;
    list.forEach((pkg, i) => {
      if (!isStr(pkg) || !pkg) err(`${field}[${i}]`, `${field}: entry ${i} is not a package name`);
      else if (re && !re.test(pkg)) err(`${field}[${i}]`, `${field}: "${pkg}" is not a valid ${base.packageManager} package name`);
    });
  }

  // services
  if (app.services !== undefined) {
    if (!Array.isArray(app.services)) err('services', 'services: must be a list of service names');
    else app.services.forEach((s, i) => {
      if (!isStr(s) || !SERVICE_RE.test(s)) err(`services[${i}]`, `services: "${String(s)}" is not a service name`);
    });
  }

  // files
  const referenced = new Set<string>();
  if (app.files !== undefined) {
    if (!Array.isArray(app.files)) err('files', 'files: must be a list of { source, path }');
    else {
      const dests = new Map<string, number>();
      app.files.forEach((f, i) => {
        const at = `files[${i}]`;
        if (!f || typeof f !== 'object') { err(at, `files: entry ${i} must be an object { source, path }`); return; }
        if (!isStr(f.source) || !f.source) err(`${at}.source`, `files[${i}].source: required path relative to files/`);
        else {
          const problem = shippedFileProblem(app, f.source);
          const abs = resolve(filesDir, f.source);
          referenced.add(relative(filesDir, abs));
          if (problem) err(`${at}.source`, `files[${i}].source: ${problem}`);
          else {
            const buf = readFileSync(abs);
            if (Buffer.compare(Buffer.from(buf.toString('utf8'), 'utf8'), buf) !== 0) err(`${at}.source`, `files[${i}].source: files/${f.source} is not UTF-8 text`);
          }
        }
        const pathProblem = imagePathProblem(f.path);
        if (pathProblem) err(`${at}.path`, `files[${i}].path: ${pathProblem}`);
        else {
          if (dests.has(f.path)) err(`${at}.path`, `files[${i}].path: ${f.path} is also the destination of files[${dests.get(f.path)}]`);
          dests.set(f.path, i);
        }
        for (const k of ['uid', 'gid'] as const) {
          if (f[k] !== undefined && (!isStr(f[k]) || !ID_RE.test(f[k]!))) err(`${at}.${k}`, `files[${i}].${k}: "${String(f[k])}" is not a numeric id such as "0"`);
        }
        if (f.mode !== undefined && (!isStr(f.mode) || !MODE_RE.test(f.mode))) err(`${at}.mode`, `files[${i}].mode: "${String(f.mode)}" is not an octal mode like "0644"`);
      });
    }
  }

  // actions
  if (app.actions !== undefined) {
    if (!Array.isArray(app.actions)) err('actions', 'actions: must be a list of { trigger, script }');
    else app.actions.forEach((a, i) => {
      if (!a || !isStr(a.script)) err(`actions[${i}]`, `actions[${i}].script: required`);
      else if (!a.script.startsWith('#!')) err(`actions[${i}].script`, `actions[${i}].script: must start with a shebang line such as #!/bin/sh (distrobuilder runs it from a memfd)`);
      if (a && !['post-unpack', 'post-update', 'post-packages', 'post-files'].includes(a.trigger)) err(`actions[${i}].trigger`, `actions[${i}].trigger: "${String(a.trigger)}" is not one of post-unpack, post-update, post-packages, post-files`);
    });
  }

  // ports
  if (app.ports !== undefined) {
    if (!Array.isArray(app.ports)) err('ports', 'ports: must be a list of { port, description }');
    else {
      const seen = new Set<string>();
      app.ports.forEach((pt, i) => {
        if (!pt || !Number.isInteger(pt.port) || pt.port < 1 || pt.port > 65535) err(`ports[${i}].port`, `ports[${i}].port: must be an integer 1-65535`);
        const key = `${pt?.port}/${pt?.protocol ?? 'tcp'}`;
        if (seen.has(key)) err(`ports[${i}]`, `ports[${i}]: ${key} declared twice`);
        seen.add(key);
      });
    }
  }

  // volumes
  if (app.volumes !== undefined) {
    if (!Array.isArray(app.volumes)) err('volumes', 'volumes: must be a list of { path, description }');
    else app.volumes.forEach((v, i) => {
      const problem = imagePathProblem(v?.path);
      if (problem) err(`volumes[${i}].path`, `volumes[${i}].path: ${problem}`);
    });
  }

  // settings + configure
  const settings = app.settings;
  const hasSettings = settings && typeof settings === 'object' && Object.keys(settings).length > 0;
  if (settings !== undefined && (typeof settings !== 'object' || Array.isArray(settings))) err('settings', 'settings: must be an object keyed by setting name');
  else if (hasSettings) {
    for (const [key, s] of Object.entries(settings)) {
      const at = settingField(key);
      if (!SETTING_RE.test(key)) err(at, `settings.${key}: not usable in the config key user.${app.name}.${key} (lower-case letters, digits, _ and -)`);
      if (!s || typeof s !== 'object' || !isStr(s.description) || !s.description) err(at, `settings.${key}.description: required`);
      // Any default, even '': the image template would hold it, and a secret never ships in an image.
      else if (s.secret && s.default !== undefined) err(`${at}.default`, `settings.${key}.default: a secret must not have a default (it would be baked into the image)`);
      if (s && typeof s === 'object') {
        for (const p of kindProblems(s.type)) err(`${at}.type`, `settings.${key}.type: ${p}`);
        if (key === ADOPT_KEY && app.volumes?.length) err(at, `settings.${key}: reserved for the built-in volume adoption setting of stateful appliances`);
        if (s.type && !kindProblems(s.type).length) {
          for (const f of ['default', 'example'] as const) {
            const v = s[f];
            const broken = typeof v === 'string' ? checkValue(s.type, v) : undefined;
            if (broken) err(`${at}.${f}`, `settings.${key}.${f}: ${JSON.stringify(v)} breaks its type: expected ${broken}`);
          }
        }
        if (s.change !== undefined) changeProblems(key, s).forEach((p) => err(`${at}.change`, p));
      }
    }
    if (!isStr(app.configure)) err('configure', `configure: required when settings are declared (a script in files/ that applies them)`);
  }
  if (isStr(app.configure)) {
    const problem = shippedFileProblem(app, app.configure);
    const abs = resolve(filesDir, app.configure);
    referenced.add(relative(filesDir, abs));
    if (problem) err('configure', `configure: ${problem}`);
    else {
      if (!readFileSync(abs, 'utf8').startsWith('#!')) err('configure', `configure: files/${app.configure} must start with a shebang line`);
    }
    if (!hasSettings) warn('configure', 'configure: given but no settings are declared');
  }

  // The reason is the point: an appliance that waits ~1 s for DHCP at every launch says why.
  if (app.waitForNetwork !== undefined && (typeof app.waitForNetwork !== 'string' || !app.waitForNetwork.trim())) {
    err('waitForNetwork', 'waitForNetwork: must be a sentence saying why a service needs the network to start (e.g. "backends given by host name are resolved once, at start"), or left out');
  }

  // health
  if (!app.health || typeof app.health !== 'object') err('', 'health: missing health check (e.g. health: { command: "pg_isready -h 127.0.0.1" })');
  else {
    if (!isStr(app.health.command) || !app.health.command.trim()) err('health.command', 'health.command: required shell command, exit 0 when healthy');
    for (const k of ['timeout', 'interval'] as const) {
      const v = app.health[k];
      if (v !== undefined && (typeof v !== 'number' || !(v > 0))) err(`health.${k}`, `health.${k}: must be a positive number of seconds`);
    }
  }

  // raw escape hatch: only keys distrobuilder knows, scripts with shebangs
  if (app.raw !== undefined) {
    try {
      canonicalDefinition(app.raw);
    } catch (e) {
      err('raw', `raw: ${(e as Error).message}`);
    }
    (Array.isArray(app.raw.files) ? app.raw.files : []).forEach((f, i) => {
      const problem = f?.path === undefined ? undefined : imagePathProblem(f.path);
      if (problem) err(`raw.files[${i}].path`, `raw.files[${i}].path: ${problem}`);
      // A copy generator reads a host path: ship files through files: instead.
      if (f && (f as { source?: unknown }).source !== undefined) err(`raw.files[${i}].source`, `raw.files[${i}].source: host paths are not allowed; ship the file through files: (from files/)`);
    });
    (app.raw.actions ?? []).forEach((a, i) => {
      if (!isStr(a?.action) || !a.action.startsWith('#!')) err(`raw.actions[${i}]`, `raw.actions[${i}].action: must start with a shebang line`);
    });
  }

  // files/ content nobody ships
  for (const f of listFiles(filesDir)) {
    if (!referenced.has(f)) warn('files', `files/${f} is not used by any files[] entry or configure`);
  }
  return p;
}

/** Problems across appliances: the same `name` in two modules. */
export function checkDuplicates(apps: Appliance[]): Array<FieldProblem & { module: string }> {
  const byName = new Map<string, Appliance[]>();
  for (const a of apps) if (isStr(a.name)) byName.set(a.name, [...(byName.get(a.name) ?? []), a]);
  const out: Array<FieldProblem & { module: string }> = [];
  for (const [name, list] of byName) {
    if (list.length < 2) continue;
    for (const a of list) {
      out.push({ module: a.module, field: 'name', severity: 'error', message: `name: "${name}" is also declared by ${list.filter((b) => b !== a).map((b) => relative(process.cwd(), b.module)).join(', ')}` });
    }
  }
  return out;
}

/** Problems of a setting's day-two `change` declaration (a second value and its check). */
function changeProblems(key: string, s: Setting): string[] {
  const c = s.change;
  if (!c || typeof c !== 'object') return [`settings.${key}.change: must be { value, check }`];
  const out: string[] = [];
  if (typeof c.value !== 'string' || !c.value) out.push(`settings.${key}.change.value: required, a second valid value`);
  else {
    const broken = s.type && !kindProblems(s.type).length ? checkValue(s.type, c.value) : /[\n\r]/.test(c.value) ? 'one line of text' : undefined;
    if (broken) out.push(`settings.${key}.change.value: ${JSON.stringify(c.value)} breaks its type: expected ${broken}`);
    if (c.value === (s.example ?? s.default)) out.push(`settings.${key}.change.value: equals the value the test launches with (${s.example !== undefined ? 'example' : 'default'}): nothing would change`);
  }
  if (typeof c.check !== 'string' || !c.check.trim()) out.push(`settings.${key}.change.check: required, a shell command that sees the new value in the running service`);
  return out;
}
