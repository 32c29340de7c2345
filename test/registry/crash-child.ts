/**
 * Child process of crash.test.ts: adds one image (JSON file) to a registry (keep 2, no grace, so
 * retention drops a version and deletes its files in the same run). At its `freezeAt`-th event it
 * prints `frozen <type>` and blocks, so the parent's kill -9 lands exactly after that event.
 * Usage: node --import tsx crash-child.ts <registry> <image.json> <freezeAt>
 */
import { readFileSync } from 'node:fs';
import type { BuiltImage } from '../../lib/registry/api.ts';
import { addImages } from '../../lib/registry/index.ts';

const [registry, file, freezeAt] = process.argv.slice(2);
const raw = JSON.parse(readFileSync(file, 'utf8')) as Omit<BuiltImage, 'builtAt'> & { builtAt: string };
let n = 0;
await addImages(registry, [{ ...raw, builtAt: new Date(raw.builtAt) }], {
  keep: 2,
  graceMs: 0,
  onEvent: (e) => {
    if (++n !== Number(freezeAt)) return;
    process.stdout.write(`frozen ${e.type}\n`);
    // Block the whole process right here (events are emitted synchronously mid-operation).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  },
});
process.stdout.write('done\n');
