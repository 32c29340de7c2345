/**
 * Can this host build an architecture? A foreign one needs binfmt_misc with an enabled
 * qemu-user handler (distrobuilder has no emulation of its own).
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Arch } from '../compile/model.ts';
import { hostArch } from '../arch.ts';

const QEMU_NAMES: Record<Arch, string> = { amd64: 'x86_64', arm64: 'aarch64' };

/**
 * Why `arch` cannot be built on this host, or undefined. `APPLIANCE_BINFMT_DIR` replaces
 * /proc/sys/fs/binfmt_misc (for tests).
 */
export function foreignArchProblem(arch: Arch, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (arch === hostArch()) return undefined;
  const f = join(env.APPLIANCE_BINFMT_DIR || '/proc/sys/fs/binfmt_misc', `qemu-${QEMU_NAMES[arch]}`);
  try {
    if (readFileSync(f, 'utf8').split('\n')[0].trim() === 'enabled') return undefined;
  } catch {
    /* not registered */
  }
  return `${arch} needs qemu-user emulation: run \`sudo bash lib/host/setup.sh\` (or apt-get install qemu-user-static binfmt-support && update-binfmts --enable)`;
}
