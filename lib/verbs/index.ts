/**
 * The verb table of build.ts, in the order `help` lists them. Verb modules are imported only
 * when their verb runs: a no-op build must not pay for execa, yaml, ts-morph or the registry.
 */
import type { Verb, VerbEntry } from '../cli.ts';

const entry = (name: string, load: () => Promise<Verb>): VerbEntry => ({ name, load });

/** Every verb, loaded on demand. */
export const VERBS: VerbEntry[] = [
  entry('build', async () => (await import('./build.ts')).buildVerb),
  entry('clean', async () => (await import('./clean.ts')).cleanVerb),
  entry('clean-all', async () => (await import('./clean.ts')).cleanAllVerb),
  entry('compile', async () => (await import('./compile.ts')).compileVerb),
  entry('validate', async () => (await import('./validate.ts')).validateVerb),
  entry('test', async () => (await import('./test.ts')).testVerb),
  entry('list', async () => (await import('./list.ts')).listVerb),
  entry('new', async () => (await import('./new.ts')).newVerb),
  entry('profile', async () => (await import('./profile.ts')).profileVerb),
  entry('status', async () => (await import('./status.ts')).statusVerb),
  entry('setup', async () => (await import('./doctor.ts')).setupVerb),
  entry('doctor', async () => (await import('./doctor.ts')).doctorVerb),
  entry('registry-list', async () => (await import('./registry-list.ts')).registryListVerb),
  entry('verify', async () => (await import('./verify.ts')).verifyVerb),
  entry('keygen', async () => (await import('./keygen.ts')).keygenVerb),
  entry('sign', async () => (await import('./sign.ts')).signVerb),
  entry('sbom', async () => (await import('./sbom.ts')).sbomVerb),
  entry('audit', async () => (await import('./audit.ts')).auditVerb),
  entry('prune', async () => (await import('./prune.ts')).pruneVerb),
  entry('publish', async () => (await import('./publish.ts')).publishVerb),
  entry('serve', async () => (await import('./serve.ts')).serveVerb),
  entry('help', async () => (await import('./help.ts')).helpVerb(loadAllVerbs)),
];

/** Imports every verb (for `help` and tests). */
export function loadAllVerbs(): Promise<Verb[]> {
  return Promise.all(VERBS.map((v) => v.load()));
}
