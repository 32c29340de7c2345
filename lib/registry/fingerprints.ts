/**
 * Which images the registry holds, read cheaply: the build graph asks on every run (even a no-op
 * one), so this module imports nothing but node:fs and the format's types.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGES_JSON, type ImagesJson } from './format.ts';

/**
 * Fingerprints (combined sha256) of every image version the registry indexes, so a run can
 * tell a record marked indexed whose image is no longer there (registry/ deleted or replaced)
 * and index it again. An absent images.json is an empty set; undefined when it cannot be read
 * or parsed (the registry stage reports that).
 */
export async function indexedFingerprints(registryDir: string): Promise<Set<string> | undefined> {
  let images: Partial<ImagesJson>;
  try {
    images = JSON.parse(await readFile(join(registryDir, IMAGES_JSON), 'utf8')) as Partial<ImagesJson>;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? new Set() : undefined;
  }
  const out = new Set<string>();
  for (const product of Object.values(images?.products ?? {})) {
    for (const version of Object.values(product?.versions ?? {})) {
      for (const item of Object.values(version?.items ?? {})) if (item?.combined_squashfs_sha256) out.add(item.combined_squashfs_sha256);
    }
  }
  return out;
}
