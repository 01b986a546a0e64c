/**
 * When the daemon returns memory: at start-up, then once a burst of work has ended (and only a
 * burst worth it), with the page drop a quarter of a second after the collections; file-backed
 * growth alone gets the page drop alone. Never while nothing changes.
 */
import { describe, expect, it } from 'vitest';
import {
  createMemoryReturner,
  type Resident,
  residentOf,
  scheduleMemoryReturns,
} from '../../../../../daemon/adapters/system/memory-return.js';

const MB = 1024 * 1024;

/** A hand-driven clock and a process whose CPU time and resident memory the test sets. */
function setup() {
  const timers: Array<{ at: number; fn: () => void }> = [];
  const s = {
    now: 0,
    cpu: 0,
    res: { anon: 12 * MB, file: 8 * MB } as Resident,
    log: [] as string[],
    optimizerOn: 0,
  };
  scheduleMemoryReturns({
    returnMemory: {
      collect: ({ flushCode }) => {
        s.log.push(flushCode ? `collect+flush@${s.now}` : `collect@${s.now}`);
        s.cpu += 5; // a return costs CPU of its own; it must not count as the next burst
      },
      dropPages: () => {
        s.log.push(`drop@${s.now}`);
        s.res = { ...s.res, file: 4 * MB };
        return 0;
      },
    },
    resident: () => s.res,
    activeMs: () => s.cpu,
    afterStartUp: () => s.optimizerOn++,
    setTimeout: (fn, ms) => timers.push({ at: s.now + ms, fn }),
  });
  /** Runs the timers due up to `ms` from now, in order. */
  const advance = (ms: number) => {
    const end = s.now + ms;
    for (;;) {
      timers.sort((a, b) => a.at - b.at);
      const t = timers[0];
      if (!t || t.at > end) break;
      timers.shift();
      s.now = t.at;
      t.fn();
    }
    s.now = end;
  };
  return { s, advance };
}

describe('scheduleMemoryReturns', () => {
  it('returns at 1 s and 10 s after start-up, flushing code, drops pages 250 ms after each, then the optimizer goes on', () => {
    const { s, advance } = setup();
    advance(999);
    expect(s.log).toEqual([]);
    advance(1);
    expect(s.log).toEqual(['collect+flush@1000']);
    advance(250);
    expect(s.log).toEqual(['collect+flush@1000', 'drop@1250']);
    expect(s.optimizerOn).toBe(0);
    advance(8750);
    expect(s.log.slice(2)).toEqual(['collect+flush@10000']);
    expect(s.optimizerOn).toBe(1);
    advance(60_000);
    expect(s.log.slice(2)).toEqual(['collect+flush@10000', 'drop@10250']);
    expect(s.optimizerOn).toBe(1);
  });

  it('returns within half a second of a burst’s end, keeping code, and not again while idle', () => {
    const { s, advance } = setup();
    advance(17_000); // past the start-up returns and the checks that follow them
    const before = s.log.length;
    // A burst: two seconds at 40 % of the event loop.
    for (let i = 0; i < 8; i++) {
      s.cpu += 100;
      s.res = { anon: 17 * MB, file: 15 * MB };
      advance(250);
    }
    // The checks during it saw it busy (the last one at its end, at the latest).
    expect(s.log.length).toBe(before);
    advance(250); // a quiet quarter of a second: the burst is over
    expect(s.log.slice(before)).toEqual([expect.stringMatching(/^collect@/)]);
    advance(250);
    expect(s.log.slice(before)).toEqual([expect.stringMatching(/^collect@/), expect.stringMatching(/^drop@/)]);
    advance(60_000);
    expect(s.log.length).toBe(before + 2);
  });

  it('for 6 s after a return, pages that come back (V8 still compiling) are dropped again at 0.5 MB, later only at 2 MB', () => {
    const { s, advance } = setup();
    advance(17_000);
    for (let i = 0; i < 8; i++) {
      s.cpu += 100;
      advance(250);
    }
    advance(500); // the return and its drop
    const before = s.log.length;
    s.res = { ...s.res, file: 5.5 * MB };
    advance(250);
    expect(s.log.slice(before)).toEqual([expect.stringMatching(/^drop@/)]);
    advance(7000); // the chase is over
    s.res = { ...s.res, file: 5.5 * MB };
    advance(3000);
    expect(s.log.length).toBe(before + 1);
    s.res = { ...s.res, file: 6.5 * MB };
    advance(1000);
    expect(s.log.length).toBe(before + 2);
  });

  it('a lone event (under 50 ms of CPU) gets no collections, only the page drop once its pages reach 2 MB', () => {
    const { s, advance } = setup();
    advance(17_000); // past the start-up returns and the checks that follow them
    const before = s.log.length;
    s.cpu += 20;
    s.res = { anon: s.res.anon + 2 * MB, file: 5 * MB }; // 1 MB over the 4 MB after the last drop
    advance(5000);
    expect(s.log.length).toBe(before);
    s.cpu += 3;
    s.res = { ...s.res, file: 6.5 * MB }; // a periodic verify faulted 2.5 MB of node's code in
    advance(3000);
    expect(s.log.slice(before)).toEqual([expect.stringMatching(/^drop@/)]);
  });

  it('does not return while busy, however long the burst', () => {
    const { s, advance } = setup();
    advance(17_000); // past the start-up returns and the checks that follow them
    const before = s.log.length;
    for (let i = 0; i < 40; i++) {
      s.cpu += 100; // 40 % of every quarter second
      s.res = { anon: s.res.anon + MB, file: 16 * MB };
      advance(250);
    }
    expect(s.log.length).toBe(before);
    advance(250);
    expect(s.log.slice(before)).toEqual([`collect@${s.now}`]);
  });
});

describe('residentOf', () => {
  it('splits this process’s resident set into anonymous and file-backed bytes', () => {
    const r = residentOf();
    expect(r.anon).toBeGreaterThan(MB);
    expect(r.file).toBeGreaterThan(MB);
    expect(r.anon + r.file).toBeLessThanOrEqual(process.memoryUsage.rss() + 64 * MB);
  });
});

describe('createMemoryReturner', () => {
  it('runs without --expose-gc (malloc_trim alone, or nothing on a libc without it)', async () => {
    const ret = await createMemoryReturner();
    expect(() => ret.collect({ flushCode: false })).not.toThrow();
  });
});
