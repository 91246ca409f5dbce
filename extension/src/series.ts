/**
 * Metric series from run events, and the points of the loss sparkline.
 *
 * Pure functions and a small accumulator, so the sidebar's logic is tested without a browser.
 */
import { IEventPage, IRunEvent } from './types';

/** One metric over steps. */
export interface ISeries {
  steps: number[];
  values: number[];
}

/** Most points a series keeps: an hours-long run must not grow the sidebar's memory without bound. */
export const MAX_POINTS = 2000;

/**
 * Metric histories built from events, in order, honouring the event schema of
 * nbmodels/runs/rundir.py: "step" and "validation" events add points; a "resume" event
 * at step k drops the points after k (they belong to the stretch lost with a killed process).
 */
export class MetricHistory {
  readonly series = new Map<string, ISeries>();

  constructor(readonly maxPoints: number = MAX_POINTS) {}

  /** Add a batch of events, in file order. */
  apply(events: IRunEvent[]): void {
    for (const event of events) {
      const step = event.step;
      if (typeof step !== 'number') {
        continue;
      }
      if (event.type === 'resume') {
        this.dropAfter(step);
      } else if (
        (event.type === 'step' || event.type === 'validation') &&
        event.metrics &&
        typeof event.metrics === 'object'
      ) {
        for (const [name, value] of Object.entries(event.metrics)) {
          if (typeof value === 'number' && Number.isFinite(value)) {
            this.add(name, step, value);
          }
        }
      }
    }
  }

  /** Metric names, training metrics first, then validation ones, each sorted. */
  names(): string[] {
    const all = [...this.series.keys()].sort();
    return [...all.filter(n => !n.startsWith('val_')), ...all.filter(n => n.startsWith('val_'))];
  }

  get(name: string): ISeries | undefined {
    return this.series.get(name);
  }

  private add(name: string, step: number, value: number): void {
    let series = this.series.get(name);
    if (!series) {
      series = { steps: [], values: [] };
      this.series.set(name, series);
    }
    series.steps.push(step);
    series.values.push(value);
    if (series.steps.length > this.maxPoints) {
      this.series.set(name, halve(series));
    }
  }

  private dropAfter(step: number): void {
    for (const [name, series] of this.series) {
      const keep = series.steps.findIndex(s => s > step);
      if (keep >= 0) {
        this.series.set(name, {
          steps: series.steps.slice(0, keep),
          values: series.values.slice(0, keep)
        });
      }
    }
  }
}

/** Average neighbouring pairs: half the points, the same shape. */
export function halve(series: ISeries): ISeries {
  const steps: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < series.steps.length; i += 2) {
    const j = Math.min(i + 1, series.steps.length - 1);
    steps.push(series.steps[j]);
    values.push((series.values[i] + series.values[j]) / 2);
  }
  return { steps, values };
}

/**
 * At most `buckets` values, each the mean of a run of consecutive values, so a sparkline of
 * a noisy per-batch loss shows its trend rather than its noise.
 */
export function bucketMeans(values: number[], buckets: number): number[] {
  if (values.length <= buckets) {
    return values.slice();
  }
  const out: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const start = Math.floor((b * values.length) / buckets);
    const end = Math.floor(((b + 1) * values.length) / buckets);
    let sum = 0;
    for (let i = start; i < end; i++) {
      sum += values[i];
    }
    out.push(sum / (end - start));
  }
  return out;
}

/**
 * The `points` attribute of an SVG polyline drawing `values` in a `width` x `height` box
 * (y grows downwards, so the largest value is at the top). Empty for fewer than 2 values;
 * a flat series is drawn through the middle.
 */
export function sparklinePoints(
  values: number[],
  width: number,
  height: number,
  buckets: number = Math.max(2, Math.floor(width / 2))
): string {
  const finite = values.filter(v => Number.isFinite(v));
  if (finite.length < 2) {
    return '';
  }
  const ys = bucketMeans(finite, buckets);
  const low = Math.min(...ys);
  const high = Math.max(...ys);
  const span = high - low;
  const pad = 1; // keeps the stroke inside the box
  const round = (v: number) => Math.round(v * 10) / 10;
  return ys
    .map((v, i) => {
      const x = (i / (ys.length - 1)) * width;
      const y = span > 0 ? pad + (1 - (v - low) / span) * (height - 2 * pad) : height / 2;
      return `${round(x)},${round(y)}`;
    })
    .join(' ');
}

/** Reads a page of events from byte `cursor` on (the server's `runs/<id>/events`). */
export type PageReader = (cursor: number, limit: number) => Promise<IEventPage>;

/**
 * A byte cursor into one run's events.jsonl. `pull` reads every event written since the last
 * call, page by page, so each poll costs only what is new.
 */
export class EventCursor {
  cursor = 0;

  constructor(
    private readonly read: PageReader,
    readonly pageSize: number = 1000,
    readonly maxPages: number = 20
  ) {}

  /**
   * New events, in order. Stops after `maxPages` pages (the rest comes at the next poll, so
   * catching up on a long run never blocks the sidebar); `caughtUp` says whether it did.
   */
  async pull(): Promise<{ events: IRunEvent[]; caughtUp: boolean }> {
    const events: IRunEvent[] = [];
    for (let page = 0; page < this.maxPages; page++) {
      const answer = await this.read(this.cursor, this.pageSize);
      // A cursor never moves back: a stale or repeated answer must not re-add events.
      if (answer.cursor < this.cursor) {
        return { events, caughtUp: true };
      }
      this.cursor = answer.cursor;
      events.push(...answer.events);
      if (!answer.more) {
        return { events, caughtUp: true };
      }
    }
    return { events, caughtUp: false };
  }
}
