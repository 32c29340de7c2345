/**
 * YAML emission that distrobuilder (gopkg.in/yaml.v2, YAML 1.1, strict) reads exactly as meant.
 * @module
 */
import { stringify } from 'yaml';
import { KNOWN_KEYS } from '../distrobuilder/definition.ts';

/**
 * Puts every mapping of a definition into the canonical key order of {@link KNOWN_KEYS} and
 * throws on a key distrobuilder does not know (UnmarshalStrict would reject the file).
 * Free-form maps (template properties, architecture mappings) are sorted by key.
 */
export function canonicalDefinition(value: unknown, path = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => canonicalDefinition(v, `${path}.*`.replace(/^\./, '')));
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  const known = KNOWN_KEYS[path];
  const out: Record<string, unknown> = {};
  if (!known) {
    // A free-form string map: stable order by key.
    for (const key of Object.keys(obj).sort()) if (obj[key] !== undefined) out[key] = obj[key];
    return out;
  }
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw new Error(`unknown distrobuilder key "${path ? path + '.' : ''}${key}"`);
  }
  for (const key of known) {
    const v = obj[key];
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[key] = canonicalDefinition(v, path ? `${path}.${key}` : key);
  }
  return out;
}

/**
 * Stringifies a definition as YAML 1.1: strings YAML 1.1 would read as booleans or numbers
 * (`yes`, `off`, `0644`...) are quoted, long lines are never folded (shell scripts), no anchors.
 */
export function toYaml(value: unknown): string {
  return stringify(value, {
    version: '1.1',
    lineWidth: 0,
    minContentWidth: 0,
    aliasDuplicateObjects: false,
    indentSeq: false,
    blockQuote: 'literal',
  });
}
