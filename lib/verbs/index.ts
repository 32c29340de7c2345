/** The verb table of build.ts, in the order `help` lists them. */
import type { Verb } from '../cli.ts';
import { compileVerb } from './compile.ts';
import { helpVerb } from './help.ts';
import { listVerb } from './list.ts';
import { validateVerb } from './validate.ts';
import { doctorVerb, setupVerb } from './doctor.ts';

/** Every verb. */
export const VERBS: Verb[] = [];
VERBS.push(compileVerb, validateVerb, listVerb, setupVerb, doctorVerb, helpVerb(() => VERBS));
