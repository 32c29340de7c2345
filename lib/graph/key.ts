/**
 * The key of a target (its image) and the explanation of a changed key.
 *
 * The key is the canonical JSON of everything that changes the image (see {@link TargetKey}):
 * image-logic version, architecture, distrobuilder version, image options, the hash of the
 * exact YAML, the compiled definition (file contents replaced by references, long scripts by
 * hashes) and the content hash of every shipped file. Host state reaches it through the YAML
 * (the mirror URL is in `source.url`). Deliberately left out: the content of the package mirror
 * (security updates do not change the key: use `--max-age`), the host kernel, qemu-user's
 * version, mksquashfs/xz versions (they change bytes, not contents) and the creation date
 * distrobuilder writes into every metadata tarball.
 * @module
 */
import type { Appliance } from '../compile/model.ts';
import type { Definition } from '../distrobuilder/definition.ts';
import { canonicalJson, hashBytes, hashJson, sortKeys, type Hash } from './hash.ts';
import type { TargetKey, InputStat, KeyFile, NodeKey, TargetRecord } from './record.ts';

export { IMAGE_LOGIC_VERSION, DEFAULT_OPTIONS, type ImageOptions } from './options.ts';

/**
 * Spec fields that do not change the image (documentation and host-side checks only). The
 * health command and the first volume do: the in-image `appliance health|status` reads them.
 */
const NON_IMAGE_FIELDS = new Set(['ports', 'tests', 'keptChanges', 'keptData', 'newerData']);

/** Strings longer than this are replaced by their hash in the key's definition. */
const LONG = 160;

/**
 * The definition as stored in the key: dump contents that come from files/ become
 * `{"@file": "files/x"}` (their hashes are in `files`), other long strings become
 * `"xxh64:<hash> (<n> bytes)"`.
 * @param fromFiles destination path -> { label, content } of the appliance's shipped files
 */
export async function keyDefinition(def: Definition, fromFiles: Map<string, { label: string; content: string }>): Promise<unknown> {
  const walk = async (v: unknown, path: string): Promise<unknown> => {
    if (typeof v === 'string') return v.length > LONG ? `xxh64:${await hashBytes(v)} (${Buffer.byteLength(v)} bytes)` : v;
    if (Array.isArray(v)) return Promise.all(v.map((x, i) => walk(x, `${path}[${i}]`)));
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (/^files\[\d+\]$/.test(path) && o.generator === 'dump' && typeof o.path === 'string') {
      const f = fromFiles.get(o.path);
      if (f && f.content === o.content) {
        const copy = { ...o, content: { '@file': f.label } };
        return Object.fromEntries(await Promise.all(Object.entries(copy).map(async ([k, x]) => [k, k === 'content' ? x : await walk(x, `${path}.${k}`)])));
      }
    }
    return Object.fromEntries(await Promise.all(Object.entries(o).map(async ([k, x]) => [k, await walk(x, path ? `${path}.${k}` : k)])));
  };
  return sortKeys(await walk(def, ''));
}

/** Hash of each top-level field of an appliance spec (functions and `dir`/`module` excluded). */
export async function specFieldHashes(app: Appliance): Promise<Record<string, Hash>> {
  const out: Record<string, Hash> = {};
  for (const [k, v] of Object.entries(app)) {
    if (k === 'dir' || k === 'module' || v === undefined) continue;
    out[k] = await hashJson(v);
  }
  return out;
}

/** Makes the key and its hash. */
export async function makeKey(parts: TargetKey): Promise<{ key: TargetKey; hash: Hash }> {
  const key = sortKeys(parts) as TargetKey;
  return { key, hash: await hashBytes(canonicalJson(key)) };
}

/**
 * Display name of an input path (relative to the project root) as seen from appliance `name`:
 * `appliances/nginx/files/a.conf` -> `files/a.conf`, `appliances/_base/debian.ts` ->
 * `_base/debian.ts`, `lib/compile/compile.ts` stays.
 */
export function inputLabel(rel: string, name: string): string {
  const own = `appliances/${name}/`;
  if (rel.startsWith(own)) return rel.slice(own.length);
  if (rel.startsWith('appliances/')) return rel.slice('appliances/'.length);
  return rel;
}

/** Paths (`a.b[2].c`) where two JSON values differ; a whole subtree counts once. */
export function diffPaths(a: unknown, b: unknown, path = ''): string[] {
  if (canonicalJson(a) === canonicalJson(b)) return [];
  const bothObj = a && b && typeof a === 'object' && typeof b === 'object';
  if (!bothObj || Array.isArray(a) !== Array.isArray(b)) return [path || '(root)'];
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return [path || '(root)'];
    return a.flatMap((x, i) => diffPaths(x, b[i], `${path}[${i}]`));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort();
  return keys.flatMap((k) => diffPaths(ao[k], bo[k], path ? `${path}.${k}` : k));
}

/** What the explanation compares against. */
export interface KeyState {
  key: TargetKey;
  fields: Record<string, Hash>;
  inputs: Record<string, InputStat>;
  context: Record<string, string>;
}

const CONTEXT_NAMES: Record<string, string> = { debianMirror: 'Debian mirror', alpineMirror: 'Alpine mirror' };

/**
 * Why the key of a target changed, in concrete words: `distrobuilder 3.2 -> 3.3`,
 * `option --compression changed (xz -> zstd)`, `files/nginx.conf changed`,
 * `appliance.ts: packages changed`, `_base/debian.ts changed`, `Debian mirror changed (a -> b)`.
 * Only called when the hashes differ; never returns an empty list.
 * @param baseNode the base node of a layered key (`debian-trixie:amd64`), whose definition is
 *   `{base, packages, image}`: a change confined to `base` is named `base <node> changed: <fields>`
 */
export function explainKeyChange(name: string, old: { record: TargetRecord; key?: KeyFile }, now: KeyState, baseNode?: string): string[] {
  const reasons: string[] = [];
  const ok = old.key?.key;
  const nk = now.key;
  const oldDb = ok?.distrobuilder ?? old.record.distrobuilder;
  if (oldDb !== nk.distrobuilder) reasons.push(`distrobuilder ${oldDb} -> ${nk.distrobuilder}`);
  const oldBuilder = ok?.builder ?? old.record.builder;
  if (oldBuilder !== nk.builder) reasons.push(`builder logic v${oldBuilder} -> v${nk.builder}`);
  const oldOpts = ok?.options ?? old.record.options;
  for (const k of [...new Set([...Object.keys(oldOpts), ...Object.keys(nk.options)])].sort()) {
    if (oldOpts[k] !== nk.options[k]) reasons.push(`option --${k} changed (${oldOpts[k] ?? 'unset'} -> ${nk.options[k] ?? 'unset'})`);
  }
  // Shipped files: from the key when the old one is readable, else from the recorded inputs.
  const oldFiles = ok?.files ?? Object.fromEntries(Object.entries(old.record.inputs).filter(([, s]) => s.kind === 'file').map(([p, s]) => [inputLabel(p, name), s.hash]));
  for (const f of [...new Set([...Object.keys(oldFiles), ...Object.keys(nk.files)])].sort()) {
    if (!(f in nk.files)) reasons.push(`${f} no longer shipped`);
    else if (!(f in oldFiles)) reasons.push(`${f} added`);
    else if (oldFiles[f] !== nk.files[f]) reasons.push(`${f} changed`);
  }
  const allChanged = ok ? diffPaths(ok.definition, nk.definition) : ['(previous key unavailable)'];
  // Layered keys ({base, packages, image}): a change confined to the base is the base's, and
  // is named as such; the rest is attributed to the appliance's modules as before.
  const inBase = (d: string) => baseNode !== undefined && (d === 'base' || d.startsWith('base.'));
  const baseChanged = allChanged.filter(inBase);
  const defChanged = allChanged.filter((d) => !inBase(d));
  const contextChanged = Object.keys({ ...old.record.context, ...now.context }).some((k) => old.record.context[k] !== now.context[k]);
  if (baseChanged.length) reasons.push(`base ${baseNode} changed: ${baseFields(baseChanged, contextChanged ? old.record.context : undefined, now.context)}`);
  const yamlOnly = ok !== undefined && allChanged.length === 0 && ok.yaml !== nk.yaml && canonicalJson(ok.files) === canonicalJson(nk.files);
  if (defChanged.length || yamlOnly) reasons.push(...attribute(name, old, now, defChanged, yamlOnly, contextChanged, baseChanged.length > 0));
  if (reasons.length === 0) reasons.push('build key changed');
  return reasons;
}

/**
 * What changed in a base definition, for a reason: `packages, actions`, or the mirror when the
 * host context changed and only `source` differs: `Debian mirror (a -> b)`.
 */
function baseFields(paths: string[], oldContext: Record<string, string> | undefined, nowContext: Record<string, string>): string {
  const fields = [...new Set(paths.map((d) => d.replace(/^base\.?/, '').replace(/[.[].*$/, '') || 'definition'))];
  if (oldContext && fields.every((f) => f === 'source')) {
    const changed = Object.keys({ ...oldContext, ...nowContext }).filter((k) => oldContext[k] !== nowContext[k]);
    if (changed.length) return changed.map((k) => `${CONTEXT_NAMES[k] ?? k} (${oldContext[k] || 'unset'} -> ${nowContext[k] || 'unset'})`).join(', ');
  }
  return fields.join(', ');
}

/**
 * Attributes a definition change to the modules whose content changed (by field for
 * appliance.ts) and to the host context. A changed mirror alone explains a change confined to
 * `source`: modules edited meanwhile (a comment) are then not blamed.
 */
function attribute(name: string, old: { record: TargetRecord; key?: KeyFile }, now: KeyState, defChanged: string[], yamlOnly: boolean, contextChanged: boolean, baseNamed: boolean): string[] {
  const attributed: string[] = [];
  // Base modules were named with the base's own reason already.
  const named = (p: string) => baseNamed && inputLabel(p, name).startsWith('_base/');
  const onlySource = defChanged.length > 0 && defChanged.every((d) => d === 'source' || d.startsWith('source.'));
  const paths = [...new Set([...Object.keys(old.record.inputs), ...Object.keys(now.inputs)])].sort();
  const isModule = (p: string) => old.record.inputs[p]?.kind !== 'file' && now.inputs[p]?.kind !== 'file';
  // A changed base module also changes the appliance's `base` field: name the module only.
  const otherModuleChanged = paths.some((p) => isModule(p) && inputLabel(p, name) !== 'appliance.ts' && old.record.inputs[p]?.hash !== now.inputs[p]?.hash);
  for (const p of contextChanged && onlySource ? [] : paths) {
    const a = old.record.inputs[p];
    const b = now.inputs[p];
    if (!isModule(p) || named(p)) continue;
    const label = inputLabel(p, name);
    if (!a) attributed.push(`${label} added`);
    else if (!b) attributed.push(`${label} removed`);
    else if (a.hash !== b.hash) attributed.push(...moduleReasons(label, old.key, now.fields, otherModuleChanged));
  }
  for (const k of [...new Set([...Object.keys(old.record.context), ...Object.keys(now.context)])].sort()) {
    if (old.record.context[k] !== now.context[k] && onlySource) attributed.push(`${CONTEXT_NAMES[k] ?? k} changed (${old.record.context[k] || 'unset'} -> ${now.context[k] || 'unset'})`);
  }
  if (attributed.length) return attributed;
  if (yamlOnly) return ['compiled YAML changed'];
  return [`definition changed: ${[...new Set(defChanged.map((d) => d.replace(/[.[].*$/, '')))].join(', ')}`];
}

/** `appliance.ts: packages changed` per changed image field, or `<module> changed`. */
function moduleReasons(label: string, oldKey: KeyFile | undefined, fields: Record<string, Hash>, otherModuleChanged: boolean): string[] {
  if (label !== 'appliance.ts' || !oldKey) return [`${label} changed`];
  const changed = [...new Set([...Object.keys(oldKey.fields), ...Object.keys(fields)])]
    .filter((f) => !NON_IMAGE_FIELDS.has(f) && !(f === 'base' && otherModuleChanged) && oldKey.fields[f] !== fields[f]).sort();
  return changed.length ? changed.map((f) => `appliance.ts: ${f} changed`) : ['appliance.ts changed'];
}


/** Makes the key of a base or packages node and its hash. */
export async function makeNodeKey(parts: Omit<NodeKey, 'definition' | 'yaml'> & { definition: Definition; yaml: string }): Promise<{ key: NodeKey; hash: Hash }> {
  const key = sortKeys({ ...parts, yaml: await hashBytes(parts.yaml), definition: await keyDefinition(parts.definition, new Map()) }) as NodeKey;
  return { key, hash: await hashBytes(canonicalJson(key)) };
}
