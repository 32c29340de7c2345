/**
 * Architecture names: the canonical (Debian/Incus) names used in targets and the model, and
 * the aliases users may type.
 * @module
 */
import { arch as nodeArch } from 'node:os';

/**
 * Architectures an appliance can declare, in Debian/Incus names. Bases map them to their own
 * names (Alpine: `x86_64`, `aarch64`). The command line also accepts `x86_64`/`aarch64`.
 */
export type Arch = 'amd64' | 'arm64';

/** Every architecture the project knows, in canonical (Debian) names. */
export const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

const ALIASES: Readonly<Record<string, Arch>> = {
  amd64: 'amd64', x86_64: 'amd64', x64: 'amd64',
  arm64: 'arm64', aarch64: 'arm64',
};

/** Canonical name of an architecture the user typed, or undefined when unknown. */
export function normalizeArch(name: string): Arch | undefined {
  return ALIASES[name.toLowerCase()];
}

/** The host's architecture in canonical form. */
export function hostArch(): Arch {
  const a = normalizeArch(nodeArch());
  if (!a) throw new Error(`unsupported host architecture ${nodeArch()} (known: ${ARCHES.join(', ')})`);
  return a;
}

/** Every spelling accepted on the command line, for error messages. */
export const ARCH_SPELLINGS: readonly string[] = Object.keys(ALIASES).filter((k) => k !== 'x64');
