/**
 * The window where two versions of a list differ, found by pointer comparison from both ends:
 * the core hands back its unchanged objects in the same order, so a consumer that kept the last
 * list looks only at what changed. And the one binary search the core's sorted lists share
 * (the memo's session list, the claim owners' classifiers). Pure.
 */

/**
 * Where two lists differ: `[lo, hiPrev)` of `prev` and `[lo, hiNext)` of `next`, outside of
 * which they hold the same objects in the same order.
 */
export function diffWindow<T>(prev: readonly T[], next: readonly T[]): { lo: number; hiPrev: number; hiNext: number } {
  if (prev === next) return { lo: 0, hiPrev: 0, hiNext: 0 };
  let lo = 0;
  let hiPrev = prev.length;
  let hiNext = next.length;
  const n = Math.min(hiPrev, hiNext);
  while (lo < n && prev[lo] === next[lo]) lo++;
  while (hiPrev > lo && hiNext > lo && prev[hiPrev - 1] === next[hiNext - 1]) {
    hiPrev--;
    hiNext--;
  }
  return { lo, hiPrev, hiNext };
}

/** Index of `key` in `list` (sorted by `keyOf` under `cmp`), or -(insertion point) - 1. */
export function binarySearch<T, K>(
  list: readonly T[],
  key: K,
  keyOf: (t: T) => K,
  cmp: (a: K, b: K) => number,
): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const d = cmp(keyOf(list[mid]!), key);
    if (d === 0) return mid;
    if (d < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}
