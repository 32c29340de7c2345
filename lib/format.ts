/**
 * Formatting and parsing of sizes and durations for people: one helper per job, used by every
 * verb, the build log and the catalogue, so the same number reads the same everywhere.
 * @module
 */

/** Human size: `35.4 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Human duration: `850 ms`, `12.3 s`, `1m22s`, `2h05m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 59.95) return `${s.toFixed(1)} s`;
  // Round once, then split: 119.6 s is 2m00s, never 1m60s.
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m}m${String(whole % 60).padStart(2, '0')}s`;
  const mins = Math.round(s / 60);
  return `${Math.floor(mins / 60)}h${String(mins % 60).padStart(2, '0')}m`;
}

/** Parses a duration such as `7d`, `12h`, `30m`, `2w`, `90s`, `1d12h`. Returns ms, or undefined. */
export function parseDuration(text: string): number | undefined {
  const unit: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)\s*([smhdw])/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text.trim().replace(/\s+/g, '')) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * unit[p[2]], 0);
}
