import {
  EventCursor,
  MetricHistory,
  bucketMeans,
  halve,
  sparklinePoints
} from '../src/series';
import { IEventPage, IRunEvent } from '../src/types';

const step = (k: number, loss: number): IRunEvent => ({ type: 'step', step: k, epoch: k / 10, metrics: { loss } });

describe('MetricHistory', () => {
  it('collects step and validation metrics, skipping other events and non-numbers', () => {
    const history = new MetricHistory();
    history.apply([
      { type: 'start', step: 0, total_steps: 4 },
      step(1, 2.0),
      step(2, 1.5),
      { type: 'progress', step: 2, eta_seconds: 3 },
      { type: 'validation', step: 2, epoch: 0.2, metrics: { val_loss: 1.7, val_accuracy: 0.4 } },
      { type: 'step', step: 3, metrics: { loss: 'NaN-as-text', accuracy: 0.5 } },
      { type: 'step', metrics: { loss: 9 } } // no step: malformed
    ]);
    expect(history.names()).toEqual(['accuracy', 'loss', 'val_accuracy', 'val_loss']);
    expect(history.get('loss')).toEqual({ steps: [1, 2], values: [2.0, 1.5] });
    expect(history.get('val_loss')).toEqual({ steps: [2], values: [1.7] });
  });

  it('drops the lost stretch after a resume, then continues', () => {
    const history = new MetricHistory();
    history.apply([step(1, 4), step(2, 3), step(3, 2), step(4, 1)]);
    history.apply([{ type: 'resume', step: 2 }, step(3, 2.5)]);
    expect(history.get('loss')).toEqual({ steps: [1, 2, 3], values: [4, 3, 2.5] });
  });

  it('keeps at most maxPoints points by averaging neighbours', () => {
    const history = new MetricHistory(10);
    history.apply(Array.from({ length: 25 }, (_, i) => step(i + 1, i + 1)));
    const loss = history.get('loss')!;
    expect(loss.steps.length).toBeLessThanOrEqual(10);
    expect(loss.steps[loss.steps.length - 1]).toBe(25);
    expect(loss.values[0]).toBeGreaterThan(1); // averaged
  });
});

describe('downsampling', () => {
  it('halves by averaging pairs, keeping the last step', () => {
    expect(halve({ steps: [1, 2, 3, 4, 5], values: [1, 3, 5, 7, 9] })).toEqual({
      steps: [2, 4, 5],
      values: [2, 6, 9]
    });
  });

  it('bucket means keep short series as they are and average long ones', () => {
    expect(bucketMeans([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(bucketMeans([1, 3, 5, 7], 2)).toEqual([2, 6]);
  });
});

describe('sparklinePoints', () => {
  it('puts the largest value at the top and the smallest at the bottom', () => {
    expect(sparklinePoints([3, 1, 2], 100, 20)).toBe('0,1 50,19 100,10');
  });

  it('draws a flat series through the middle', () => {
    expect(sparklinePoints([2, 2, 2], 10, 20)).toBe('0,10 5,10 10,10');
  });

  it('needs two finite values', () => {
    expect(sparklinePoints([], 10, 10)).toBe('');
    expect(sparklinePoints([1, NaN], 10, 10)).toBe('');
  });

  it('averages into at most `buckets` points', () => {
    const points = sparklinePoints(Array.from({ length: 1000 }, (_, i) => i), 100, 10, 50);
    expect(points.split(' ')).toHaveLength(50);
  });
});

/** Pages over a growing in-memory events.jsonl, with byte offsets as read_events gives them. */
function fileOf(events: IRunEvent[]) {
  const reads: number[] = [];
  const read = async (cursor: number, limit: number): Promise<IEventPage> => {
    reads.push(cursor);
    const offsets = [0];
    for (const event of events) {
      offsets.push(offsets[offsets.length - 1] + JSON.stringify(event).length + 1);
    }
    const start = offsets.indexOf(cursor);
    const page = events.slice(start, start + limit);
    return { events: page, cursor: offsets[start + page.length], more: page.length === limit };
  };
  return { read, reads, events };
}

describe('EventCursor', () => {
  it('reads page after page until caught up, then only what is new', async () => {
    const file = fileOf(Array.from({ length: 25 }, (_, i) => step(i + 1, 1)));
    const cursor = new EventCursor(file.read, 10);
    const first = await cursor.pull();
    expect(first.events.map(e => e.step)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(first.caughtUp).toBe(true);
    expect(file.reads).toHaveLength(3);

    file.events.push(step(26, 0.5));
    const second = await cursor.pull();
    expect(second.events).toEqual([step(26, 0.5)]);
    expect(file.reads[file.reads.length - 1]).toBe(cursor.cursor - JSON.stringify(step(26, 0.5)).length - 1);

    const idle = await cursor.pull();
    expect(idle).toEqual({ events: [], caughtUp: true });
  });

  it('stops after maxPages and resumes at the next pull', async () => {
    const file = fileOf(Array.from({ length: 30 }, (_, i) => step(i + 1, 1)));
    const cursor = new EventCursor(file.read, 5, 2);
    const first = await cursor.pull();
    expect(first.events).toHaveLength(10);
    expect(first.caughtUp).toBe(false);
    const second = await cursor.pull();
    expect(second.events[0].step).toBe(11);
  });

  it('never moves back on a stale answer', async () => {
    let calls = 0;
    const cursor = new EventCursor(async () => {
      calls += 1;
      return calls === 1
        ? { events: [step(1, 1)], cursor: 100, more: false }
        : { events: [step(1, 1)], cursor: 50, more: false };
    });
    await cursor.pull();
    const stale = await cursor.pull();
    expect(stale.events).toEqual([]);
    expect(cursor.cursor).toBe(100);
  });
});
