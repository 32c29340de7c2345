/** Helpers of the catalogue tests: appliance declarations in a scratch folder, page links. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.ts';

/**
 * Writes `appliances/<name>/appliance.ts` (and a README) into `dir`, importing the project's
 * model and Debian base by absolute path. `extra` is TypeScript source of more fields.
 */
export function writeAppliance(dir: string, name: string, version: string, extra = '', readme?: string): void {
  const folder = join(dir, name);
  mkdirSync(join(folder, 'files'), { recursive: true });
  writeFileSync(join(folder, 'files', 'configure.sh'), '#!/bin/sh\n');
  writeFileSync(join(folder, 'appliance.ts'), `import { defineAppliance } from ${JSON.stringify(join(ROOT, 'lib/compile/model.ts'))};
import { debian } from ${JSON.stringify(join(ROOT, 'appliances/_base/debian.ts'))};
export default defineAppliance({
  name: ${JSON.stringify(name)},
  version: ${JSON.stringify(version)},
  base: debian(),
  architectures: ['amd64', 'arm64'],
  health: { command: 'true', timeout: 5 },
  ${extra}
});
`);
  if (readme !== undefined) writeFileSync(join(folder, 'README.md'), readme);
}

/** The `href`s of a page (double-quoted attributes, as the pages write them), entities decoded. */
export function hrefs(page: string): string[] {
  return [...page.matchAll(/<a [^>]*href="([^"]*)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
}
