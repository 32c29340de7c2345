/**
 * Incus Appliance Registry: the single entry point (replaces the Makefile).
 * Usage: npx tsx build.ts [verb] [targets...] [options]   (see `npx tsx build.ts help`)
 */
import { main } from './lib/cli.ts';
import { VERBS } from './lib/verbs/index.ts';

try {
  process.exitCode = await main(process.argv.slice(2), VERBS);
} catch (e) {
  // A bug, not a user mistake: show it, but as one readable block.
  process.stderr.write(`internal error: ${(e as Error)?.stack ?? e}\n`);
  process.exitCode = 2;
}
if (process.exitCode) {
  // An appliance whose import timed out may have left timers or sockets that would keep node
  // alive forever: exit now (checked only on failure, so a no-op build loads nothing more).
  const { importsTimedOut } = await import('./lib/validate/deadline.ts');
  if (importsTimedOut()) process.exit();
}
