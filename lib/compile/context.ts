/**
 * Host-derived build context: the values the pure compiler needs from the environment.
 * Everything that reaches the compiled YAML from the host goes through here, so it is in the
 * build key through the YAML.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import type { BaseContext } from './model.ts';
import { debianMirror } from '../host/mirror.ts';
import { UserError } from '../diagnostics.ts';

/** Stand-in Alpine mirror used when none is configured: compiles and validates, never builds. */
export const ALPINE_MIRROR_UNSET = 'https://alpine-mirror.invalid/alpine';

/** Options that override the host-derived values. */
export interface ContextOptions {
  debianMirror?: string;
  alpineMirror?: string;
}

function alpineMirrorFromHost(): string | undefined {
  const f = '/etc/apk/repositories';
  if (!existsSync(f)) return undefined;
  const line = readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).find((l) => /^https?:\/\//.test(l));
  // ".../alpine/v3.22/main" -> ".../alpine"
  return line?.replace(/\/(v\d+\.\d+|edge)\/\w+\/?$/, '');
}

/**
 * The build context: Debian mirror from `--debian-mirror`, `APPLIANCE_DEBIAN_MIRROR`, or the
 * host's apt configuration; Alpine mirror from `--alpine-mirror`, `APPLIANCE_ALPINE_MIRROR`,
 * or /etc/apk/repositories, else {@link ALPINE_MIRROR_UNSET}.
 */
export function compileContext(opts: ContextOptions = {}, env: NodeJS.ProcessEnv = process.env): BaseContext {
  let debian = opts.debianMirror || env.APPLIANCE_DEBIAN_MIRROR;
  if (!debian) {
    try {
      debian = debianMirror(env);
    } catch (e) {
      throw new UserError(`cannot derive the Debian mirror: ${(e as Error).message}; set APPLIANCE_DEBIAN_MIRROR or pass --debian-mirror URL`);
    }
  }
  const alpine = opts.alpineMirror || env.APPLIANCE_ALPINE_MIRROR || alpineMirrorFromHost() || ALPINE_MIRROR_UNSET;
  return { debianMirror: debian.replace(/\/+$/, ''), alpineMirror: alpine.replace(/\/+$/, '') };
}
