/**
 * Small formatting helpers of the catalogue pages (deterministic: the same index gives the same
 * bytes, whatever the time zone or locale of the machine that re-indexes).
 * @module
 */


/** `2026-11-26 14:05 UTC`. */
export function formatDate(d: Date | undefined): string {
  return d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'unknown';
}

/** `2026-11-26`. */
export function formatDay(d: Date | undefined): string {
  return d ? d.toISOString().slice(0, 10) : 'unknown';
}
