import { describe, expect, it } from 'vitest';
import {
  Allocations,
  IdPool,
  markIndexRange,
  markPool,
  priorityForSlot,
  slotCount,
  slotPool,
} from '../../../../daemon/core/alloc.js';
import { type CoreConfig, DEFAULT_CORE_CONFIG, validateCoreConfig } from '../../../../daemon/core/config.js';
import { AllocationExhaustedError, ConfigError } from '../../../../daemon/core/errors.js';

const drain = (pool: IdPool): number[] => {
  const out: number[] = [];
  while (pool.free > 0) out.push(pool.allocate());
  return out;
};

describe('IdPool', () => {
  it('hands out fresh values lowest first and throws AllocationExhaustedError when empty', () => {
    const pool = IdPool.ofRange('routing table', { start: 100, end: 103 });
    expect(pool.size).toBe(4);
    expect(drain(pool)).toEqual([100, 101, 102, 103]);
    expect(pool.free).toBe(0);
    let caught: unknown;
    try {
      pool.allocate();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AllocationExhaustedError);
    expect((caught as AllocationExhaustedError).pool).toBe('routing table');
    expect((caught as AllocationExhaustedError).code).toBe('NSD_ERR_ALLOCATION_EXHAUSTED');
  });

  it('reuses released values only after fresh ones run out, oldest release first', () => {
    const pool = IdPool.ofRange('t', { start: 1, end: 5 });
    const [a, b, c] = [pool.allocate(), pool.allocate(), pool.allocate()];
    expect([a, b, c]).toEqual([1, 2, 3]);
    pool.release(2);
    pool.release(1);
    // Fresh 4 and 5 come before the released 2 and 1.
    expect(pool.allocate()).toBe(4);
    expect(pool.allocate()).toBe(5);
    pool.release(3);
    // FIFO over releases: 2 (released first), then 1, then 3.
    expect(pool.allocate()).toBe(2);
    expect(pool.allocate()).toBe(1);
    expect(pool.allocate()).toBe(3);
    expect(() => pool.allocate()).toThrow(AllocationExhaustedError);
  });

  it('ignores releases of values it does not hold (no duplicates handed out)', () => {
    const pool = IdPool.ofRange('t', { start: 1, end: 3 });
    const v = pool.allocate();
    pool.release(v);
    pool.release(v); // double release
    pool.release(3); // never allocated, still fresh
    pool.release(99); // outside the range
    expect(pool.free).toBe(3);
    const got = drain(pool);
    expect(got.sort()).toEqual([1, 2, 3]);
    expect(new Set(got).size).toBe(got.length);
  });

  it('never hands out reserved values, fresh or released', () => {
    const pool = IdPool.ofRange('t', { start: 1, end: 6 });
    pool.reserve(2);
    pool.reserve(5);
    pool.reserve(1000); // outside: ignored
    expect(pool.free).toBe(4);
    const first = [pool.allocate(), pool.allocate()];
    expect(first).toEqual([1, 3]);
    pool.release(1);
    pool.reserve(1); // reserved while waiting in the reuse queue
    expect(pool.release(2)).toBeUndefined(); // reserved and not ours: no-op
    const rest = drain(pool);
    expect(rest).toEqual([4, 6]);
    expect(() => pool.allocate()).toThrow(AllocationExhaustedError);
    expect([...first, ...rest]).not.toContain(2);
    expect([...first, ...rest]).not.toContain(5);
    expect(pool.isReserved(2)).toBe(true);
    expect(pool.inUse(2)).toBe(false);
  });

  it('makes unreserved values available again, after the values already queued', () => {
    const pool = IdPool.ofRange('t', { start: 1, end: 4 });
    pool.reserve(2);
    expect(drain(pool)).toEqual([1, 3, 4]);
    pool.release(3);
    pool.unreserve(2);
    expect(pool.free).toBe(2);
    expect(pool.allocate()).toBe(3);
    expect(pool.allocate()).toBe(2);
    expect(pool.free).toBe(0);
  });

  it('an unreserved value never seen by the cursor stays fresh and in order', () => {
    const pool = IdPool.ofRange('t', { start: 1, end: 3 });
    pool.reserve(2);
    pool.unreserve(2);
    expect(drain(pool)).toEqual([1, 2, 3]);
  });

  it('a value reserved while we hold it stays ours until released, then is withheld', () => {
    const pool = IdPool.ofRange('t', { start: 1, end: 2 });
    expect(pool.allocate()).toBe(1);
    pool.reserve(1);
    expect(pool.inUse(1)).toBe(true);
    expect(pool.free).toBe(1);
    pool.release(1);
    expect(pool.inUse(1)).toBe(false);
    expect(pool.free).toBe(1);
    expect(pool.allocate()).toBe(2);
    expect(() => pool.allocate()).toThrow(AllocationExhaustedError);
    pool.unreserve(1);
    expect(pool.allocate()).toBe(1);
  });

  it('handles a 2^32-wide range without materialising it', () => {
    const pool = IdPool.ofRange('routing table', { start: 1, end: 0xffffffff });
    expect(pool.size).toBe(0xffffffff);
    expect(pool.allocate()).toBe(1);
    pool.reserve(0xffffffff);
    expect(pool.free).toBe(0xffffffff - 2);
    expect(pool.contains(0xffffffff)).toBe(true);
    expect(pool.contains(0)).toBe(false);
  });

  it('keeps FIFO order over many cycles (queue compaction)', () => {
    const pool = IdPool.ofRange('t', { start: 0, end: 499 });
    expect(drain(pool)).toHaveLength(500);
    const order: number[] = [];
    for (let i = 0; i < 500; i++) {
      const v = (i * 7) % 500; // a permutation of 0..499
      order.push(v);
      pool.release(v);
    }
    for (let round = 0; round < 3; round++) {
      const got: number[] = [];
      for (let i = 0; i < 500; i++) got.push(pool.allocate());
      expect(got).toEqual(order);
      for (const v of got) pool.release(v);
    }
  });
});

describe('marks', () => {
  it('rejects a zero mask and non-contiguous masks with ConfigError', () => {
    expect(() => markIndexRange(0)).toThrow(ConfigError);
    expect(() => markIndexRange(0x0f0f0000)).toThrow(/markMask/);
    expect(() => markIndexRange(0b101)).toThrow(ConfigError);
    expect(() => markIndexRange(2 ** 32)).toThrow(ConfigError);
  });

  it('default mask 0x0fff0000 gives the 4095 marks 0x00010000..0x0fff0000', () => {
    expect(markIndexRange(0x0fff0000)).toEqual({ shift: 16, start: 1, end: 4095 });
    const pool = markPool(0x0fff0000);
    expect(pool.size).toBe(4095);
    const all = drain(pool);
    expect(all).toHaveLength(4095);
    expect(all[0]).toBe(0x00010000);
    expect(all[1]).toBe(0x00020000);
    expect(all.at(-1)).toBe(0x0fff0000);
    expect(all).not.toContain(0);
    for (const m of all) expect(m & ~0x0fff0000).toBe(0);
    expect(new Set(all).size).toBe(4095);
  });

  it('handles masks reaching bit 31 (no negative marks)', () => {
    expect(markIndexRange(0x80000000)).toEqual({ shift: 31, start: 1, end: 1 });
    expect(markPool(0x80000000).allocate()).toBe(0x80000000);
    expect(markIndexRange(0xffffffff)).toEqual({ shift: 0, start: 1, end: 0xffffffff });
    const top = markPool(0xf0000000);
    expect(drain(top).at(-1)).toBe(0xf0000000);
  });
});

describe('priority slots', () => {
  it('source rules come before fwmark rules, each in its own half', () => {
    const range = { start: 10000, end: 10999 };
    expect(slotCount(range)).toBe(500);
    expect(priorityForSlot(range, 0)).toEqual({ source: 10000, fwmark: 10500 });
    expect(priorityForSlot(range, 499)).toEqual({ source: 10499, fwmark: 10999 });
    expect(() => priorityForSlot(range, 500)).toThrow(RangeError);
    expect(() => priorityForSlot(range, -1)).toThrow(RangeError);
  });

  it('an odd-sized range leaves the last priority unused', () => {
    const range = { start: 100, end: 104 };
    const pool = slotPool(range);
    const slots = drain(pool);
    expect(slots).toEqual([0, 1]);
    const prios = slots.flatMap((s) => Object.values(priorityForSlot(range, s)));
    expect(prios.sort()).toEqual([100, 101, 102, 103]);
  });
});

describe('Allocations', () => {
  const small = (over: Partial<CoreConfig>): CoreConfig => ({ ...DEFAULT_CORE_CONFIG, ...over });

  it('allocates a table, a mark and a slot per service', () => {
    const a = new Allocations(DEFAULT_CORE_CONFIG);
    const s1 = a.allocateService();
    const s2 = a.allocateService();
    expect(s1).toEqual({ table: 10000, mark: 0x00010000, slot: 0 });
    expect(s2).toEqual({ table: 10001, mark: 0x00020000, slot: 1 });
    expect(a.priorities(s2.slot)).toEqual({ source: 10001, fwmark: 10501 });
    a.releaseService(s1);
    expect(a.tables.inUse(10000)).toBe(false);
    expect(a.marks.inUse(0x00010000)).toBe(false);
    expect(a.slots.inUse(0)).toBe(false);
  });

  it('allocates all or nothing: an exhausted pool leaves the others untouched', () => {
    // 3 tables, 1 mark, 2 slots: the mark runs out first.
    const a = new Allocations(
      small({ markMask: 0x00010000, tableRange: { start: 500, end: 502 }, priorityRange: { start: 10, end: 13 } }),
    );
    expect(a.allocateService()).toEqual({ table: 500, mark: 0x00010000, slot: 0 });
    const before = { tables: a.tables.free, marks: a.marks.free, slots: a.slots.free };
    expect(() => a.allocateService()).toThrow(expect.objectContaining({ pool: 'mark' }));
    expect({ tables: a.tables.free, marks: a.marks.free, slots: a.slots.free }).toEqual(before);
    expect(a.tables.inUse(501)).toBe(false);
    expect(a.slots.inUse(1)).toBe(false);
    // The table that was not taken is still fresh: it comes next, not after a "release".
    a.releaseService({ table: 500, mark: 0x00010000, slot: 0 });
    expect(a.allocateService()).toEqual({ table: 501, mark: 0x00010000, slot: 1 });
  });

  it('does not collide with reserved kernel ids', () => {
    const a = new Allocations(DEFAULT_CORE_CONFIG);
    a.tables.reserve(10000);
    a.tables.reserve(10002);
    const got = [a.allocateService(), a.allocateService(), a.allocateService()].map((s) => s.table);
    expect(got).toEqual([10001, 10003, 10004]);
  });

  it('reports the exhausted pool by name', () => {
    const a = new Allocations(small({ tableRange: { start: 500, end: 500 } }));
    a.allocateService();
    expect(() => a.allocateService()).toThrow(/routing table/);
  });
});

describe('validateCoreConfig', () => {
  const bad = (over: Record<string, unknown>): CoreConfig => ({ ...DEFAULT_CORE_CONFIG, ...over }) as CoreConfig;
  const expectConfigError = (c: CoreConfig, key: string): void => {
    let caught: unknown;
    try {
      validateCoreConfig(c);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const msg = (caught as Error).message;
    expect(msg.startsWith(key)).toBe(true);
    expect(msg).not.toContain('\n');
  };

  it('accepts and copies the defaults', () => {
    const c = validateCoreConfig(DEFAULT_CORE_CONFIG);
    expect(c).toEqual(DEFAULT_CORE_CONFIG);
    expect(c.tableRange).not.toBe(DEFAULT_CORE_CONFIG.tableRange);
    expect(c).toEqual({
      markMask: 0x0fff0000,
      sessionTagMask: 0x0000ffff,
      tableRange: { start: 10000, end: 10999 },
      priorityRange: { start: 10000, end: 10999 },
      maxSessionsPerClient: 64,
      maxSessionsPerUid: 256,
      maxPolicyGroups: 1_000,
      maxProvisioningServices: 1_000,
    });
  });

  it('accepts edge values', () => {
    expect(() => validateCoreConfig(bad({ tableRange: { start: 256, end: 0xffffffff } }))).not.toThrow();
    expect(() => validateCoreConfig(bad({ tableRange: { start: 1, end: 252 } }))).not.toThrow();
    expect(() => validateCoreConfig(bad({ priorityRange: { start: 32764, end: 32765 } }))).not.toThrow();
    expect(() => validateCoreConfig(bad({ markMask: 0xffff0000 }))).not.toThrow();
    expect(() => validateCoreConfig(bad({ markMask: 0x80000000, sessionTagMask: 0x7fffffff }))).not.toThrow();
  });

  it('rejects a session tag mask that overlaps markMask or is not contiguous', () => {
    expect(() => validateCoreConfig(bad({ markMask: 0xffffffff }))).toThrow(
      /sessionTagMask 0xffff must not share bits with markMask/,
    );
    expect(() => validateCoreConfig(bad({ sessionTagMask: 0x0101 }))).toThrow(
      /^sessionTagMask 0x101 must be one run of contiguous bits/,
    );
    expect(() => validateCoreConfig(bad({ sessionTagMask: 0 }))).toThrow(/^sessionTagMask must be a non-zero/);
  });

  it('rejects a bad markMask', () => {
    expectConfigError(bad({ markMask: 0 }), 'markMask');
    expectConfigError(bad({ markMask: 0x0f0f0000 }), 'markMask');
    expectConfigError(bad({ markMask: -1 }), 'markMask');
    expectConfigError(bad({ markMask: 2 ** 32 }), 'markMask');
    expectConfigError(bad({ markMask: 1.5 }), 'markMask');
    expectConfigError(bad({ markMask: '0xff' }), 'markMask');
  });

  it('rejects a bad tableRange', () => {
    expectConfigError(bad({ tableRange: { start: 0, end: 10 } }), 'tableRange');
    expectConfigError(bad({ tableRange: { start: 200, end: 300 } }), 'tableRange');
    expectConfigError(bad({ tableRange: { start: 254, end: 254 } }), 'tableRange');
    expectConfigError(bad({ tableRange: { start: 255, end: 400 } }), 'tableRange');
    expectConfigError(bad({ tableRange: { start: 2000, end: 1000 } }), 'tableRange');
    expectConfigError(bad({ tableRange: { start: 1000, end: 2 ** 32 } }), 'tableRange');
    expectConfigError(bad({ tableRange: null }), 'tableRange');
  });

  it('rejects a bad priorityRange', () => {
    expectConfigError(bad({ priorityRange: { start: 0, end: 100 } }), 'priorityRange');
    expectConfigError(bad({ priorityRange: { start: 32000, end: 32766 } }), 'priorityRange');
    expectConfigError(bad({ priorityRange: { start: 500, end: 500 } }), 'priorityRange');
    expectConfigError(bad({ priorityRange: { start: 600, end: 500 } }), 'priorityRange');
  });

  it('rejects bad session limits', () => {
    expectConfigError(bad({ maxSessionsPerClient: 0 }), 'maxSessionsPerClient');
    expectConfigError(bad({ maxSessionsPerClient: 2.5 }), 'maxSessionsPerClient');
    expectConfigError(bad({ maxSessionsPerUid: -3 }), 'maxSessionsPerUid');
    expectConfigError(bad({ maxSessionsPerUid: undefined }), 'maxSessionsPerUid');
  });
});
