/**
 * When the daemon returns memory: after start-up, after many sessions ended, and after a burst
 * once the process stopped growing; never per second while nothing changes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryReturner, scheduleMemoryReturns } from '../../../../../daemon/adapters/system/memory-return.js';

const MB = 1024 * 1024;

describe('scheduleMemoryReturns', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.clearAllTimers();
    vi.useRealTimers();
  });

  function setup() {
    const state = { sessions: 0, rss: 50 * MB, returns: 0 };
    scheduleMemoryReturns(
      () => state.sessions,
      () => {
        state.returns++;
      },
      () => state.rss,
    );
    return state;
  }

  it('returns at 1 s and 10 s after start-up, then not while nothing changes', () => {
    const s = setup();
    vi.advanceTimersByTime(999);
    expect(s.returns).toBe(0);
    vi.advanceTimersByTime(1);
    expect(s.returns).toBe(1);
    vi.advanceTimersByTime(9000);
    expect(s.returns).toBe(2);
    vi.advanceTimersByTime(60_000);
    expect(s.returns).toBe(2);
  });

  it('returns once the live sessions fell 1,000 below their high-water mark', () => {
    const s = setup();
    vi.advanceTimersByTime(10_000);
    const before = s.returns;
    s.sessions = 5000;
    vi.advanceTimersByTime(1000);
    s.sessions = 4001;
    vi.advanceTimersByTime(1000);
    expect(s.returns).toBe(before);
    s.sessions = 4000;
    vi.advanceTimersByTime(1000);
    expect(s.returns).toBe(before + 1);
    vi.advanceTimersByTime(10_000);
    expect(s.returns).toBe(before + 1);
  });

  it('returns after 3 MB of growth only once the growth stopped, once, and not within 3 s of the last', () => {
    const s = setup();
    vi.advanceTimersByTime(10_000);
    const before = s.returns;
    for (const mb of [51, 52, 53, 54]) {
      s.rss = mb * MB;
      vi.advanceTimersByTime(1000);
    }
    expect(s.returns).toBe(before); // still growing
    vi.advanceTimersByTime(1000);
    expect(s.returns).toBe(before + 1); // settled 4 MB above, 5 s after the last return
    vi.advanceTimersByTime(30_000);
    expect(s.returns).toBe(before + 1);
  });

  it('a burst that settles 1 s after a return is returned once 3 s have passed since it', () => {
    const s = setup();
    vi.advanceTimersByTime(10_000); // the start-up return at 10 s (rss 50 MB)
    const before = s.returns;
    s.rss = 54 * MB;
    vi.advanceTimersByTime(1000); // 1 s: grew
    vi.advanceTimersByTime(1000); // 2 s: settled, but within 3 s of the return
    expect(s.returns).toBe(before);
    vi.advanceTimersByTime(1000); // 3 s: the gap has passed
    expect(s.returns).toBe(before + 1);
    vi.advanceTimersByTime(30_000);
    expect(s.returns).toBe(before + 1);
  });
});

describe('createMemoryReturner', () => {
  it('runs without --expose-gc (malloc_trim alone, or nothing on a libc without it)', async () => {
    const ret = await createMemoryReturner();
    expect(() => ret()).not.toThrow();
  });
});
