/**
 * Child process of crash.test.ts: adds the images listed in a JSON file to a registry one at a
 * time (each a full re-index, keep 2, no grace so deletions happen too), printing every event
 * as a line on stdout so the parent can kill -9 it at a chosen point.
 * Usage: node --import tsx crash-child.ts <registry> <images.json>
 */
import { readFileSync } from 'node:fs';
import type { BuiltImage } from '../../lib/registry/api.ts';
import { addImages } from '../../lib/registry/index.ts';

const [registry, list] = process.argv.slice(2);
const images = (JSON.parse(readFileSync(list, 'utf8')) as (Omit<BuiltImage, 'builtAt'> & { builtAt: string })[]).map((i) => ({ ...i, builtAt: new Date(i.builtAt) }));
for (const img of images) {
  await addImages(registry, [img], { keep: 2, graceMs: 0, lockStaleMs: 2000, onEvent: (e) => process.stdout.write(`${e.type}\n`) });
}
process.stdout.write('done\n');
