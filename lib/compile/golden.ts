/**
 * Golden files: the compiled YAML of every target (`test/golden/<name>-<arch>.yaml`) and of the
 * layers the build graph runs for amd64 (`test/golden/layers/<name>-amd64.<layer>.yaml`), with a
 * placeholder mirror so they never depend on the host. One definition of what they hold, shared
 * by the golden test (which compares them), `new` (which registers a scaffold's) and
 * `new --remove` (which deletes them).
 * @module
 */
import { join } from 'node:path';
import { compile } from './compile.ts';
import { ARCHES, type Appliance, type BaseContext } from './model.ts';
import { toYaml } from './yaml.ts';

/** The golden folder of a project. */
export function goldenDir(root: string): string {
  return join(root, 'test', 'golden');
}

/** The compile context of golden files: placeholder mirrors (no host value, no real mirror name). */
export const GOLDEN_CONTEXT: BaseContext = { debianMirror: 'http://mirror.example/debian', alpineMirror: 'https://alpine-mirror.example/alpine' };

/** The build graph's layers kept as golden files (amd64 only: arm64 differs in the architecture). */
const LAYERS = ['base', 'packages', 'image'] as const;

/** One golden file: its path relative to the golden folder, and its expected text. */
export interface GoldenFile {
  file: string;
  /** Human name of what it holds, e.g. `nginx:amd64 packages layer`. */
  what: string;
  text: string;
}

/** Every golden file of an appliance, compiled now. Throws what the compiler throws. */
export function goldenFiles(app: Appliance): GoldenFile[] {
  const out: GoldenFile[] = [];
  for (const arch of app.architectures) {
    out.push({ file: `${app.name}-${arch}.yaml`, what: `${app.name}:${arch}`, text: compile(app, arch, GOLDEN_CONTEXT).yaml });
  }
  const c = compile(app, 'amd64', GOLDEN_CONTEXT);
  for (const layer of LAYERS) {
    const def = c.layers[layer];
    if (def) out.push({ file: `layers/${app.name}-amd64.${layer}.yaml`, what: `${app.name}:amd64 ${layer} layer`, text: toYaml(def) });
  }
  return out;
}

/**
 * Every golden file name an appliance called `name` could have (whatever it declares), for
 * removing them without loading it: exact names, so `demo` never matches `demo-2`'s files.
 */
export function goldenFileNames(name: string): string[] {
  return [...ARCHES.map((arch) => `${name}-${arch}.yaml`), ...LAYERS.map((layer) => `layers/${name}-amd64.${layer}.yaml`)];
}
