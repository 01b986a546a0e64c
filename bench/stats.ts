/**
 * Summary statistics for benchmark samples, computed the way the connmand reference harness
 * did (bench.py): median of the sorted list, p90 = sorted[round(0.9·(n−1))], so our figures
 * and theirs are comparable row by row.
 */

/** Summary of one list of samples (same unit as the samples). */
export interface Summary {
  n: number;
  median: number;
  min: number;
  p90: number;
  max: number;
  mean: number;
}

/** Summarises the finite samples of `xs`; null when there are none. */
export function summarize(xs: ReadonlyArray<number | null | undefined>): Summary | null {
  const s = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return {
    n: s.length,
    median,
    min: s[0]!,
    p90: s[Math.min(s.length - 1, Math.round(0.9 * (s.length - 1)))]!,
    max: s[s.length - 1]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/** Rounds for display (3 decimals: µs resolution on millisecond figures). */
export function r3(x: number | undefined | null): number | null {
  return typeof x === 'number' ? Math.round(x * 1000) / 1000 : null;
}
