/** The verb table of build.ts, in the order `help` lists them. */
import type { Verb } from '../cli.ts';
import { buildVerb } from './build.ts';
import { cleanAllVerb, cleanVerb } from './clean.ts';
import { compileVerb } from './compile.ts';
import { helpVerb } from './help.ts';
import { listVerb } from './list.ts';
import { profileVerb } from './profile.ts';
import { validateVerb } from './validate.ts';
import { doctorVerb, setupVerb } from './doctor.ts';
import { registryListVerb } from './registry-list.ts';
import { verifyVerb } from './verify.ts';
import { pruneVerb } from './prune.ts';
import { publishVerb } from './publish.ts';
import { serveVerb } from './serve.ts';
import { testVerb } from './test.ts';

/** Every verb. */
export const VERBS: Verb[] = [];
VERBS.push(compileVerb, validateVerb, testVerb, listVerb, profileVerb, setupVerb, doctorVerb, helpVerb(() => VERBS));
// Registry and server verbs, listed before help.
VERBS.splice(VERBS.length - 1, 0, registryListVerb, verifyVerb, pruneVerb, publishVerb, serveVerb);
// Build verbs first (build is the default verb).
VERBS.unshift(buildVerb, cleanVerb, cleanAllVerb);
