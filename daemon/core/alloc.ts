/**
 * Allocation of the kernel numbers a connected service needs: a routing table id, a packet mark
 * (inside the configured mask) and a priority slot for its `ip rule`s.
 *
 * Numbers are reused safely: a pool hands out never-used values first (lowest first) and only
 * when those run out reuses released values, oldest release first. A just-freed table or mark may
 * still be referenced by conntrack entries (the mark is saved there) or by packets in flight, so
 * it should be the last one handed to another service, not the next. (ConnMan never reuses its
 * numbers and does not handle wrap-around; see the spec §4.1.)
 */
import { AllocationExhaustedError, ConfigError } from './errors.js';

/** An inclusive range of integers. */
export interface IntRange {
  start: number;
  end: number;
}

/** The parts of the core's configuration the pools are made of (config.ts documents each). */
export interface AllocationRanges {
  markMask: number;
  sessionTagMask: number;
  tableRange: IntRange;
  priorityRange: IntRange;
}

/**
 * A pool over an arithmetic run of integers `first, first+step, ..., first+(count-1)*step`
 * (step 1 is a plain contiguous range). Every operation is O(1) amortised, whatever the size of
 * the range (except {@link unreserve}, linear in the released values, and rare): values are
 * never materialised up front.
 *
 * Values are in one of four states: fresh (never handed out), allocated, free (released, waiting
 * in a FIFO queue), and reserved (present in the kernel but not ours: never handed out). A
 * reserved value that we hold stays ours until released and is then withheld until unreserved.
 */
export class IdPool {
  /** Number of values in the range. */
  readonly size: number;
  /** Index of the next fresh value; indices at or above it were never handed out. */
  #cursor = 0;
  readonly #allocated = new Set<number>();
  readonly #reserved = new Set<number>();
  /** Reserved values we do not hold; kept so {@link free} stays O(1). */
  #reservedIdle = 0;
  /**
   * FIFO of released values, as indices into the range, in a ring that doubles when full: 4 bytes
   * per queued value (a session tag pool holds up to 65,535 of them; an array plus a Set of
   * them cost ~45 bytes each, left behind by every session that ever ended). Each value is in it
   * at most once.
   */
  #ring = new Uint32Array(0);
  #head = 0;
  #len = 0;

  /**
   * @param name Used in {@link AllocationExhaustedError} (`no free <name> left ...`).
   * @param first Lowest value.
   * @param count Number of values (≥ 0).
   * @param step Distance between consecutive values (≥ 1).
   */
  constructor(
    readonly name: string,
    readonly first: number,
    count: number,
    readonly step = 1,
  ) {
    if (
      !Number.isSafeInteger(first) ||
      !Number.isSafeInteger(count) ||
      count < 0 ||
      !Number.isSafeInteger(step) ||
      step < 1
    ) {
      throw new RangeError(`bad pool ${name}: first=${first} count=${count} step=${step}`);
    }
    this.size = count;
  }

  /** A pool over the inclusive range `start..end`. */
  static ofRange(name: string, range: IntRange): IdPool {
    return new IdPool(name, range.start, Math.max(0, range.end - range.start + 1));
  }

  /** How many values {@link allocate} can still hand out. */
  get free(): number {
    return this.size - this.#allocated.size - this.#reservedIdle;
  }

  /** Whether `v` is one of this pool's values. */
  contains(v: number): boolean {
    const i = (v - this.first) / this.step;
    return Number.isInteger(i) && i >= 0 && i < this.size;
  }

  /** Whether `v` is currently allocated by us. */
  inUse(v: number): boolean {
    return this.#allocated.has(v);
  }

  /** Whether `v` is reserved (held by someone else in the kernel). */
  isReserved(v: number): boolean {
    return this.#reserved.has(v);
  }

  /** Hands out a value: the lowest fresh one, else the longest-released one. */
  allocate(): number {
    while (this.#cursor < this.size) {
      const v = this.first + this.#cursor * this.step;
      this.#cursor++;
      // A skipped reserved value is queued again by unreserve(), so it is not lost.
      if (this.#reserved.has(v)) continue;
      this.#allocated.add(v);
      return v;
    }
    while (this.#len > 0) {
      const v = this.first + (this.#ring[this.#head] as number) * this.step;
      this.#head = (this.#head + 1) % this.#ring.length;
      this.#len--;
      if (this.#reserved.has(v)) continue; // re-queued by unreserve()
      this.#allocated.add(v);
      return v;
    }
    throw new AllocationExhaustedError(this.name);
  }

  /** Gives `v` back. A value we do not hold (never allocated, already released, reserved) is ignored. */
  release(v: number): void {
    if (!this.#allocated.delete(v)) return;
    if (this.#reserved.has(v)) {
      this.#reservedIdle++;
      return;
    }
    this.#enqueue(v);
  }

  /**
   * Marks `v` as present in the kernel and not ours: it is never handed out until
   * {@link unreserve}. Values outside the pool are ignored (they cannot collide).
   */
  reserve(v: number): void {
    if (!this.contains(v) || this.#reserved.has(v)) return;
    this.#reserved.add(v);
    if (!this.#allocated.has(v)) this.#reservedIdle++;
  }

  /** Makes a reserved value available again (at the back of the reuse queue if it is not fresh). */
  unreserve(v: number): void {
    if (!this.#reserved.delete(v)) return;
    if (this.#allocated.has(v)) return;
    this.#reservedIdle--;
    const index = (v - this.first) / this.step;
    if (index < this.#cursor && !this.#isQueued(index)) this.#enqueue(v);
  }

  /** A linear scan: only unreserve() asks, when a foreign kernel object goes away (rare). */
  #isQueued(index: number): boolean {
    for (let i = 0; i < this.#len; i++) if (this.#ring[(this.#head + i) % this.#ring.length] === index) return true;
    return false;
  }

  #enqueue(v: number): void {
    if (this.#len === this.#ring.length) {
      const grown = new Uint32Array(Math.min(this.size, Math.max(64, this.#ring.length * 2)));
      for (let i = 0; i < this.#len; i++) grown[i] = this.#ring[(this.#head + i) % this.#ring.length] as number;
      this.#ring = grown;
      this.#head = 0;
    }
    this.#ring[(this.#head + this.#len) % this.#ring.length] = (v - this.first) / this.step;
    this.#len++;
  }
}

/**
 * The usable mark indices of a mask: marks are `n << shift` for `n` in `start..end`, where
 * `shift` is the mask's lowest set bit. Index 0 (mark 0) is never used: it means "unmarked".
 * Throws {@link ConfigError} when the mask is 0 or its bits are not contiguous.
 */
export function markIndexRange(mask: number, key = 'markMask'): { shift: number; start: number; end: number } {
  if (!Number.isInteger(mask) || mask < 1 || mask > 0xffffffff) {
    throw new ConfigError(`${key} must be a non-zero 32-bit mask, got ${String(mask)}`);
  }
  const shift = 31 - Math.clz32(mask & -mask);
  const end = mask / 2 ** shift; // exact: mask is a multiple of 2^shift
  // Contiguous iff the shifted mask is 2^k - 1. `&` works on int32, where 2^32 wraps to 0 and
  // 2^31 to -2^31, so the test also holds for masks reaching bit 31.
  if (((end + 1) & end) !== 0) {
    throw new ConfigError(`${key} 0x${mask.toString(16)} must be one run of contiguous bits`);
  }
  return { shift, start: 1, end };
}

/** A pool of the marks a mask allows: `2^shift, 2*2^shift, ..., mask`. */
export function markPool(mask: number, name = 'mark', key = 'markMask'): IdPool {
  const { shift, end } = markIndexRange(mask, key);
  const unit = 2 ** shift; // not 1 << shift: that is negative for shift 31
  return new IdPool(name, unit, end, unit);
}

/** Number of service slots a priority range holds: half for source rules, half for fwmark rules. */
export function slotCount(range: IntRange): number {
  return Math.floor((range.end - range.start + 1) / 2);
}

/**
 * The `ip rule` priorities of a service slot. Source-address rules come before fwmark rules, so a
 * socket explicitly bound to uplink B's address is routed by B's table even when an identity mark
 * points elsewhere (no asymmetric path).
 */
export function priorityForSlot(range: IntRange, slot: number): { source: number; fwmark: number } {
  const slots = slotCount(range);
  if (!Number.isInteger(slot) || slot < 0 || slot >= slots)
    throw new RangeError(`slot ${slot} outside 0..${slots - 1}`);
  return { source: range.start + slot, fwmark: range.start + slots + slot };
}

/** A pool of the slots `0..slotCount(range)-1`. */
export function slotPool(range: IntRange): IdPool {
  return new IdPool('rule priority slot', 0, slotCount(range));
}

/** The kernel numbers of one service. */
export interface ServiceAllocation {
  table: number;
  mark: number;
  slot: number;
}

/** The pools the configuration's ranges define; a service's table, mark and slot are allocated together. */
export class Allocations {
  readonly tables: IdPool;
  readonly marks: IdPool;
  readonly slots: IdPool;
  /** Per-session tags (mark bits inside sessionTagMask). */
  readonly tags: IdPool;

  constructor(readonly config: AllocationRanges) {
    this.tables = IdPool.ofRange('routing table', config.tableRange);
    this.marks = markPool(config.markMask);
    this.slots = slotPool(config.priorityRange);
    this.tags = markPool(config.sessionTagMask, 'session tag', 'sessionTagMask');
  }

  /**
   * Allocates a table, a mark and a slot, or nothing: when any pool is exhausted it throws
   * {@link AllocationExhaustedError} naming that pool and leaves all three pools untouched.
   */
  allocateService(): ServiceAllocation {
    // Checking first (free is exact) instead of rolling back keeps the pools' reuse order intact:
    // a rolled-back fresh value would otherwise come back as "released".
    for (const pool of [this.tables, this.marks, this.slots]) {
      if (pool.free === 0) throw new AllocationExhaustedError(pool.name);
    }
    return { table: this.tables.allocate(), mark: this.marks.allocate(), slot: this.slots.allocate() };
  }

  /** Returns a service's numbers to their pools (each to the back of its reuse queue). */
  releaseService(a: ServiceAllocation): void {
    this.tables.release(a.table);
    this.marks.release(a.mark);
    this.slots.release(a.slot);
  }

  /** The `ip rule` priorities of a slot under this configuration. */
  priorities(slot: number): { source: number; fwmark: number } {
    return priorityForSlot(this.config.priorityRange, slot);
  }
}
