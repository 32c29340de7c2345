/**
 * Glue to the registry stage (lib/registry/index.ts, the build -> registry contract of
 * lib/registry/api.ts). Imported lazily: a no-op build never loads it, and a missing or broken
 * registry module turns into a warning instead of failing builds that already succeeded.
 * @module
 */
import type { BuiltImage, IndexOptions, IndexResult } from '../registry/api.ts';

/** The part of the registry module the build stage uses. */
export interface RegistryStage {
  addImages(registryDir: string, images: BuiltImage[], opts?: IndexOptions): Promise<IndexResult>;
  dropTargets(registryDir: string, keepTarget: (name: string, arch: string) => boolean, opts?: IndexOptions): Promise<IndexResult>;
}

/** Loads the registry stage, or says why it is unavailable. */
export async function registry(): Promise<RegistryStage | { unavailable: string }> {
  try {
    const m = (await import('../registry/index.ts')) as Partial<RegistryStage>;
    if (typeof m.addImages !== 'function' || typeof m.dropTargets !== 'function') return { unavailable: 'lib/registry/index.ts does not export addImages and dropTargets' };
    return m as RegistryStage;
  } catch (e) {
    return { unavailable: `cannot load lib/registry/index.ts: ${(e as Error).message.split('\n')[0]}` };
  }
}
