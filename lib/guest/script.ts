/**
 * The in-image `appliance` command (`appliance.sh` beside this module), shipped in every image
 * by the compiler (lib/compile/settings.ts). Read from this folder, so the module and the script move
 * together.
 * @module
 */
import { readFileSync } from 'node:fs';

/** The guest command's source: part of the toolchain, like the compiler's own code. */
export const GUEST_SCRIPT = readFileSync(new URL('./appliance.sh', import.meta.url), 'utf8');
