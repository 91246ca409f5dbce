/**
 * Text shown in the sidebar; kept in step with the Python side (nbmodels.runs.formatting).
 */
import { RunStatus } from './types';

/** Statuses of a run whose process is still working on it. */
export const ACTIVE: ReadonlySet<string> = new Set(['running', 'stopping']);

/** Statuses that end a run; each gets its own badge colour. */
export const TERMINAL: ReadonlySet<string> = new Set([
  'stopped',
  'finished',
  'failed',
  'diverged',
  'interrupted'
]);

export function isActive(status: string): boolean {
  return ACTIVE.has(status);
}

/** `h:mm:ss` or `m:ss`, like nbmodels.runs.formatting.format_seconds; `?` when unknown. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '?';
  }
  const total = Math.max(0, Math.round(seconds));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return hours ? `${hours}:${pad(minutes)}:${pad(secs)}` : `${minutes}:${pad(secs)}`;
}

/** A metric value to 4 significant digits, like Python's `f"{v:.4g}"`. */
export function formatMetric(value: unknown): string {
  if (typeof value !== 'number') {
    return String(value);
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e4) {
    return String(value);
  }
  if (!Number.isFinite(value)) {
    return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  }
  const magnitude = value === 0 ? 0 : Math.floor(Math.log10(Math.abs(value)));
  if (magnitude < -4 || magnitude >= 4) {
    // Python writes 1.235e-05: at least two exponent digits, no trailing zeros.
    const [mantissa, exponent] = value.toExponential(3).split('e');
    const digits = exponent.replace(/^([+-])(\d)$/, '$10$2');
    return `${trimZeros(mantissa)}e${digits}`;
  }
  return trimZeros(value.toFixed(Math.max(0, 3 - magnitude)));
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/**
 * Metrics as `accuracy=0.97 loss=0.1234`, sorted by name. The server sends NaN and infinite
 * values (a diverged run) as null, shown as `nan` so the last loss is not silently missing.
 */
export function formatMetrics(metrics: Record<string, unknown> | undefined): string {
  return Object.keys(metrics || {})
    .sort()
    .filter(key => typeof metrics![key] === 'number' || metrics![key] === null)
    .map(key => `${key}=${metrics![key] === null ? 'nan' : formatMetric(metrics![key])}`)
    .join(' ');
}

/** Binary units like nbmodels.devices.format_bytes: `1.5 GiB`; `?` when unknown. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '?';
  }
  if (Math.abs(n) < 1024) {
    return `${Math.trunc(n)} B`;
  }
  let value = n;
  for (const unit of ['KiB', 'MiB', 'GiB', 'TiB']) {
    value /= 1024;
    if (Math.abs(value) < 1024) {
      return `${value.toFixed(1)} ${unit}`;
    }
  }
  return `${(value / 1024).toFixed(1)} PiB`;
}

/** Fraction of the run done, in [0, 1]; 0 when the total is unknown. */
export function progressFraction(step: number, total: number): number {
  if (!(total > 0) || !(step > 0)) {
    return 0;
  }
  return Math.min(1, step / total);
}

/** `step 120/400 (30%)`, or `step 120` when the total is unknown. */
export function formatProgress(step: number, total: number): string {
  if (!(total > 0)) {
    return `step ${step}`;
  }
  return `step ${step}/${total} (${Math.floor(progressFraction(step, total) * 100)}%)`;
}

/** The ETA line for a run: only an active run has one. */
export function formatEta(status: RunStatus | string, etaSeconds: number | null): string {
  return isActive(status) && etaSeconds !== null ? `ETA ${formatSeconds(etaSeconds)}` : '';
}

/** `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago` for a time in seconds since the epoch. */
export function formatAgo(time: number, now: number = Date.now() / 1000): string {
  if (!(time > 0)) {
    return '';
  }
  const age = Math.max(0, now - time);
  if (age < 60) {
    return `${Math.floor(age)} s ago`;
  }
  if (age < 3600) {
    return `${Math.floor(age / 60)} min ago`;
  }
  if (age < 86400) {
    return `${Math.floor(age / 3600)} h ago`;
  }
  return `${Math.floor(age / 86400)} d ago`;
}
