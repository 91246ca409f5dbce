import {
  formatAgo,
  formatBytes,
  formatEta,
  formatMetric,
  formatMetrics,
  formatProgress,
  formatSeconds,
  progressFraction
} from '../src/format';

describe('formatSeconds (same text as nbmodels.runs.formatting.format_seconds)', () => {
  it.each([
    [0, '0:00'],
    [59.4, '0:59'],
    [61, '1:01'],
    [3599, '59:59'],
    [3600, '1:00:00'],
    [7325, '2:02:05']
  ])('%p -> %p', (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });

  it('says ? when unknown', () => {
    expect(formatSeconds(null)).toBe('?');
    expect(formatSeconds(undefined)).toBe('?');
    expect(formatSeconds(NaN)).toBe('?');
  });
});

describe('formatMetric (Python f"{v:.4g}")', () => {
  it.each([
    [0.123456, '0.1235'],
    [2.302585, '2.303'],
    [0.5, '0.5'],
    [1234.56, '1235'],
    [12345.6, '1.235e+04'],
    [0.0000123456, '1.235e-05'],
    [1e-12, '1e-12'],
    [3, '3'],
    [0, '0'],
    [-0.25, '-0.25']
  ])('%p -> %p', (value, text) => {
    expect(formatMetric(value)).toBe(text);
  });

  it('writes non-finite values like Python', () => {
    expect(formatMetric(NaN)).toBe('nan');
    expect(formatMetric(Infinity)).toBe('inf');
  });

  it('joins numeric metrics sorted by name', () => {
    expect(formatMetrics({ loss: 0.6931, accuracy: 0.5, note: 'x' })).toBe('accuracy=0.5 loss=0.6931');
    expect(formatMetrics(undefined)).toBe('');
    expect(formatMetrics({ loss: null, accuracy: 0.5 })).toBe('accuracy=0.5 loss=nan');
  });
});

describe('formatBytes (same text as nbmodels.devices.format_bytes)', () => {
  it.each([
    [512, '512 B'],
    [1536 * 1024 ** 2, '1.5 GiB'],
    [2048, '2.0 KiB'],
    [3 * 1024 ** 5, '3.0 PiB']
  ])('%p -> %p', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it('says ? when unknown', () => {
    expect(formatBytes(null)).toBe('?');
  });
});

describe('progress and ETA', () => {
  it('is a fraction capped at 1, 0 when the total is unknown', () => {
    expect(progressFraction(30, 120)).toBe(0.25);
    expect(progressFraction(130, 120)).toBe(1);
    expect(progressFraction(30, 0)).toBe(0);
  });

  it('reads as step n/total (percent)', () => {
    expect(formatProgress(30, 120)).toBe('step 30/120 (25%)');
    expect(formatProgress(7, 0)).toBe('step 7');
  });

  it('shows an ETA only while the run is active', () => {
    expect(formatEta('running', 75)).toBe('ETA 1:15');
    expect(formatEta('finished', 75)).toBe('');
    expect(formatEta('running', null)).toBe('');
  });

  it('says how long ago', () => {
    expect(formatAgo(100, 130)).toBe('30 s ago');
    expect(formatAgo(100, 100 + 3 * 3600)).toBe('3 h ago');
    expect(formatAgo(0, 100)).toBe('');
  });
});
