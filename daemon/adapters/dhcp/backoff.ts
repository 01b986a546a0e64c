/**
 * Restart delays for a supervised child: exponential from `baseMs` up to `maxMs`, and back to
 * `baseMs` once a run lasted `stableMs`, so one crash after days of service restarts at once
 * while a crash loop settles at one attempt per `maxMs`.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, stableMs: 60_000 };

/** Consecutive quick failures so far, given how long the run that just ended lasted. */
export function nextFailureCount(
  previousFailures: number,
  ranMs: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
): number {
  return ranMs >= opts.stableMs ? 1 : previousFailures + 1;
}

/** Delay before restart number `failures` (1 = first restart after a crash). */
export function restartDelayMs(failures: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  if (failures <= 1) return opts.baseMs;
  // Cap the exponent before exponentiating so a long crash loop cannot overflow to Infinity.
  const exp = Math.min(failures - 1, 30);
  return Math.min(opts.maxMs, opts.baseMs * 2 ** exp);
}
