/**
 * Summary statistics of repeated measurements: the bench reports every
 * figure as a median and a p99 over its samples.
 *
 * @module
 */

/** A summary of one series of samples. */
export interface Summary {
  /** Number of samples. */
  count: number;
  /** Middle value (mean of the two middle ones for an even count). */
  median: number;
  /** 99th percentile, nearest-rank: with fewer than 100 samples, the largest. */
  p99: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** Arithmetic mean. */
  mean: number;
}

/**
 * The `p`-th percentile (0 < p ≤ 100) by the nearest-rank method: the
 * smallest sample with at least p % of the samples at or below it. Chosen
 * over interpolation so a reported p99 is always a value that was measured.
 *
 * @throws RangeError for an empty series or p outside (0, 100].
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError("no samples");
  if (!(p > 0 && p <= 100)) {
    throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1];
}

/** The median: the middle sample, or the mean of the two middle ones. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Summarizes a non-empty series. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("no samples");
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const sample of samples) {
    if (sample < min) min = sample;
    if (sample > max) max = sample;
    sum += sample;
  }
  return {
    count: samples.length,
    median: median(samples),
    p99: percentile(samples, 99),
    min,
    max,
    mean: sum / samples.length,
  };
}

/** Rounds to `digits` decimals (for JSON output that stays readable). */
export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A summary with every figure rounded to `digits` decimals. */
export function roundSummary(summary: Summary, digits = 2): Summary {
  return {
    count: summary.count,
    median: round(summary.median, digits),
    p99: round(summary.p99, digits),
    min: round(summary.min, digits),
    max: round(summary.max, digits),
    mean: round(summary.mean, digits),
  };
}
