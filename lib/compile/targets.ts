/**
 * Targets: `name:arch` strings on the command line, resolved against the loaded appliances.
 * @module
 */
import type { Appliance, Arch } from './model.ts';
import { ARCH_SPELLINGS, hostArch, normalizeArch } from '../arch.ts';
import { UnknownApplianceError, UserError } from '../diagnostics.ts';

/** One appliance x architecture. */
export interface Target {
  appliance: Appliance;
  arch: Arch;
  /** `name:arch` with the canonical architecture. */
  id: string;
}

/** Splits `name[:arch]`; the architecture is normalised, undefined when absent. */
export function parseTargetSpec(spec: string): { name: string; arch?: Arch } {
  const [name, arch, extra] = spec.split(':');
  if (!name || extra !== undefined || arch === '') throw new UserError(`target "${spec}": expected <name> or <name>:<arch>`);
  if (arch === undefined) return { name };
  const a = normalizeArch(arch);
  if (!a) throw new UserError(`target "${spec}": unknown architecture "${arch}" (use ${ARCH_SPELLINGS.join(', ')})`);
  return { name, arch: a };
}

/**
 * Resolves command-line specs to targets. `name` alone means the host architecture; no spec
 * means every appliance for the host architecture; `allArch` means every declared architecture.
 */
export function resolveTargets(apps: Appliance[], specs: string[], opts: { allArch?: boolean } = {}): Target[] {
  const byName = new Map(apps.map((a) => [a.name, a]));
  const out = new Map<string, Target>();
  const add = (appliance: Appliance, arch: Arch) => out.set(`${appliance.name}:${arch}`, { appliance, arch, id: `${appliance.name}:${arch}` });
  const parsed = specs.length ? specs.map(parseTargetSpec) : apps.map((a) => ({ name: a.name, arch: undefined }));
  for (const { name, arch } of parsed) {
    const app = byName.get(name);
    if (!app) throw new UnknownApplianceError(name, [...byName.keys()]);
    if (arch) {
      if (!app.architectures.includes(arch)) throw new UserError(`target ${name}:${arch}: ${name} does not declare ${arch} (declares: ${app.architectures.join(', ')})`);
      add(app, arch);
    } else if (opts.allArch) {
      for (const a of app.architectures) add(app, a);
    } else {
      const h = hostArch();
      if (!app.architectures.includes(h)) {
        if (specs.length) throw new UserError(`target ${name}: ${name} does not declare the host architecture ${h} (declares: ${app.architectures.join(', ')}); name one, e.g. ${name}:${app.architectures[0]}`);
        continue;
      }
      add(app, h);
    }
  }
  return [...out.values()];
}
