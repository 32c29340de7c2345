// Module loader hooks (run in the loader thread): append every resolved URL to $IMPORT_TRACE.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (process.env.IMPORT_TRACE) appendFileSync(process.env.IMPORT_TRACE, r.url + '\n');
  return r;
}
