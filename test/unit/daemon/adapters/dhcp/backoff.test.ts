import { describe, expect, it } from 'vitest';
import { nextFailureCount, restartDelayMs } from '../../../../../daemon/adapters/dhcp/backoff.js';

const opts = { baseMs: 500, maxMs: 30_000, stableMs: 60_000 };

describe('restart backoff', () => {
  it('doubles from the base up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => restartDelayMs(n, opts))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect(restartDelayMs(10_000, opts)).toBe(30_000);
    expect(restartDelayMs(0, opts)).toBe(500);
  });

  it('counts quick failures and starts over after a stable run', () => {
    expect(nextFailureCount(0, 10, opts)).toBe(1);
    expect(nextFailureCount(3, 59_999, opts)).toBe(4);
    expect(nextFailureCount(7, 60_000, opts)).toBe(1);
  });
});
