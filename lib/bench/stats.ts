/**
 * Robust statistics for benchmark samples. Timings on a shared machine have a hard floor and a
 * long upper tail (interrupts, frequency changes, another process), so the median and the
 * interquartile range describe them better than a mean and a standard deviation. Outliers are
 * found with Tukey's fences (1.5 IQR beyond the quartiles) and reported, never dropped: a
 * reader deciding whether to trust a number needs to know how noisy it was.
 */

export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  median: number;
  /** First and third quartiles (linear interpolation between order statistics). */
  q1: number;
  q3: number;
  iqr: number;
  /** Samples below q1 - 1.5 IQR and above q3 + 1.5 IQR, in sample order. */
  outliers: { low: number[]; high: number[] };
}

/**
 * The p-quantile of sorted values, interpolating between the two nearest order statistics at
 * position (n - 1) p, as numpy's default and R's type 7 do.
 */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h), hi = Math.ceil(h);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const q1 = quantile(sorted, 0.25), q3 = quantile(sorted, 0.75);
  const iqr = q3 - q1;
  const lowFence = q1 - 1.5 * iqr, highFence = q3 + 1.5 * iqr;
  return {
    n: samples.length,
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
    median: quantile(sorted, 0.5),
    q1,
    q3,
    iqr,
    outliers: {
      low: samples.filter((x) => x < lowFence),
      high: samples.filter((x) => x > highFence),
    },
  };
}

/**
 * How many times faster `other` is than `base`, from samples taken in the same rounds:
 * the per-round ratios base[i] / other[i], summarized. Pairing by round cancels drift that
 * hits both sides of one round alike, which two independent medians would not.
 */
export function pairedRatio(
  base: readonly number[],
  other: readonly number[],
): { median: number; q1: number; q3: number } {
  const n = Math.min(base.length, other.length);
  const ratios = Array.from({ length: n }, (_, i) => base[i] / other[i]).sort((a, b) => a - b);
  return { median: quantile(ratios, 0.5), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75) };
}
