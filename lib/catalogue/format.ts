/**
 * Small formatting helpers of the catalogue pages (deterministic: the same index gives the same
 * bytes, whatever the time zone or locale of the machine that re-indexes).
 * @module
 */

/** Human size in binary units: `25.1 MiB`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = bytes;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return i === 0 ? `${bytes} B` : `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}

/** `2026-11-26 14:05 UTC`. */
export function formatDate(d: Date | undefined): string {
  return d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'unknown';
}

/** `2026-11-26`. */
export function formatDay(d: Date | undefined): string {
  return d ? d.toISOString().slice(0, 10) : 'unknown';
}
