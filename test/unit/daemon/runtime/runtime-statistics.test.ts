/**
 * The runtime's Statistics signals (SetStatisticsInterval) with a manual clock and a counting
 * accounting fake: timers fire, one dump serves every subscription due at a tick, signals stop
 * with the session, the subscriber or a 0, and only owners (or root) may ask.
 *
 * | input                                                | expected                                                   |
 * |------------------------------------------------------|------------------------------------------------------------|
 * | two sessions ask for 1 s at once                     | one dump per tick, a signal for each, every second         |
 * | 1 s and 3 s subscriptions                            | the 3 s one rides on every third 1 s tick (no extra dump)  |
 * | session destroyed / client gone / interval 0         | no more signals, no timer left                             |
 * | non-owner / root on another's session                | PermissionDenied / allowed, to root only                   |
 * | bad interval / no accounting                         | InvalidArguments / NotSupported, no StatisticsSignal cap   |
 * | stop() while a dump is in flight                     | nothing sent, no timer left                                |
 */
import { describe, expect, it } from 'vitest';
import type { BusCaller } from '../../../../daemon/api.js';
import { Engine } from '../../../../daemon/core/engine.js';
import { DEFAULT_ONLINE_CHECK_SETTINGS } from '../../../../daemon/core/online-schedule.js';
import type { PropDict } from '../../../../daemon/core/properties.js';
import type { Counters } from '../../../../daemon/core/statistics-schedule.js';
import type { Accounting, BusEvents, Clock } from '../../../../daemon/ports.js';
import { Runtime } from '../../../../daemon/runtime/runtime.js';
import { codeOf } from '../../../fakes/errors.js';
import { uplink } from '../../../fakes/links.js';

/** A clock whose time moves only when the test says; due timers fire in order. */
class ManualClock implements Clock {
  t = 0;
  readonly #timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const e = { at: this.t + ms, fn, live: true };
    this.#timers.push(e);
    return { cancel: () => void (e.live = false) };
  }
  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.filter((e) => e.live).length;
  }
  /** Moves time to `to`, firing each due timer and letting the work it starts finish. */
  async advance(to: number): Promise<void> {
    for (;;) {
      const next = this.#timers.filter((e) => e.live && e.at <= to).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      next.live = false;
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = to;
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** Counts dumps; answers `bytes` for every session key; `gate` holds a dump until released. */
class FakeAccounting implements Accounting {
  reads = 0;
  counters = new Map<string, Counters>();
  gate: Promise<void> | null = null;
  async read(): Promise<Map<string, Counters>> {
    this.reads += 1;
    if (this.gate) await this.gate;
    return new Map(this.counters);
  }
  async reset(): Promise<void> {}
}

type Signal = { subscriber: string; path: string; stats: PropDict };

async function setup(opts: { accounting?: boolean } = {}) {
  const clock = new ManualClock();
  const accounting = new FakeAccounting();
  const signals: Signal[] = [];
  const events = new Proxy({} as BusEvents, {
    get: (_t, name) =>
      name === 'sessionStatistics'
        ? (subscriber: string, path: string, stats: PropDict) => signals.push({ subscriber, path, stats })
        : () => {},
  });
  const logs: string[] = [];
  const rt = new Runtime({
    engine: new Engine(),
    events,
    links: { start: async () => [uplink(2, 'eth0', 'ethernet')], stop: async () => {} },
    identity: { resolve: (c: BusCaller) => ({ uid: c.uid, groups: [] }), cgroupOf: () => undefined },
    clock,
    online: {
      settings: { ...DEFAULT_ONLINE_CHECK_SETTINGS, mode: 'none' },
      probe: { probe: async () => ({ kind: 'online' }) },
      urls: { 4: 'http://x/', 6: 'http://x/' },
    },
    ...(opts.accounting === false ? {} : { accounting }),
    log: (_level, msg) => logs.push(msg),
  });
  await rt.start();
  return { rt, clock, accounting, signals, logs };
}

const ROOT: BusCaller = { sender: ':1.5', uid: 0, gids: [0], pid: undefined };
const ALICE: BusCaller = { sender: ':1.6', uid: 1001, gids: [1001], pid: undefined };
const BOB: BusCaller = { sender: ':1.7', uid: 1002, gids: [1002], pid: undefined };
/** A second root client (e.g. an admin tool). */
const ROOT_TOOL: BusCaller = { sender: ':1.8', uid: 0, gids: [0], pid: undefined };

const counters = (rx: bigint): Counters => ({ rxBytes: rx, txBytes: rx / 2n, rxPackets: 3n, txPackets: 4n });

describe('runtime: Statistics signals', () => {
  it('one dump per tick serves every subscription due; each goes to its subscriber, first at once, then every interval', async () => {
    const { rt, clock, accounting, signals } = await setup();
    const a = await rt.createSession(ROOT, {}, '/a');
    const b = await rt.createSession(ALICE, {}, '/b');
    accounting.counters.set('s1', counters(1000n));
    rt.setStatisticsInterval(ROOT, a, 1);
    rt.setStatisticsInterval(ALICE, b, 1);
    expect(signals).toEqual([]);
    await clock.advance(0);
    expect(accounting.reads).toBe(1);
    expect(signals.map((s) => [s.subscriber, s.path])).toEqual([
      [':1.5', a],
      [':1.6', b],
    ]);
    const first = signals[0]!.stats;
    expect(Object.keys(first)).toEqual(['RX.Bytes', 'TX.Bytes', 'RX.Packets', 'TX.Packets']);
    expect(Object.values(first).every((p) => p.signature === 't')).toBe(true);
    expect(first['RX.Bytes']!.value).toBe(1000n);
    // A session the dump has no counter for yet reports zeros.
    expect(signals[1]!.stats['RX.Bytes']!.value).toBe(0n);

    accounting.counters.set('s1', counters(5000n));
    await clock.advance(3000);
    expect(accounting.reads).toBe(4);
    expect(signals).toHaveLength(8);
    expect(signals.at(-2)!.stats['RX.Bytes']!.value).toBe(5000n);
    expect(rt.capabilities()).toEqual(expect.arrayContaining(['Statistics', 'StatisticsSignal']));
  });

  it('a 3 s subscription rides on the 1 s ticks: no dump of its own', async () => {
    const { rt, clock, accounting, signals } = await setup();
    const a = await rt.createSession(ROOT, {}, '/a');
    rt.setStatisticsInterval(ROOT, a, 1);
    rt.setStatisticsInterval(ROOT_TOOL, a, 3);
    await clock.advance(6000);
    expect(accounting.reads).toBe(7);
    expect(signals.filter((s) => s.subscriber === ':1.5')).toHaveLength(7);
    expect(signals.filter((s) => s.subscriber === ':1.8')).toHaveLength(3);
  });

  it('stops when the session ends, when the subscriber leaves the bus, and on 0; no timer is left', async () => {
    const { rt, clock, signals, logs } = await setup();
    const a = await rt.createSession(ROOT, {}, '/a');
    const b = await rt.createSession(ALICE, {}, '/b');
    const c = await rt.createSession(ALICE, {}, '/c');
    rt.setStatisticsInterval(ROOT, a, 1);
    rt.setStatisticsInterval(ALICE, b, 1);
    rt.setStatisticsInterval(ROOT, c, 2);
    await clock.advance(2000);
    const count = (sub: string, path: string) => signals.filter((s) => s.subscriber === sub && s.path === path).length;
    expect([count(':1.5', a), count(':1.6', b), count(':1.5', c)]).toEqual([3, 3, 2]);

    await rt.sessionDestroy(ROOT, a);
    await clock.advance(3000);
    expect(count(':1.5', a)).toBe(3);
    expect(logs).toContain(`statistics signals for ${a} to :1.5 stopped (session ended)`);

    // Alice leaves: her session b ends; root's subscription to her session c ends with it.
    rt.clientGone(':1.6');
    await clock.advance(6000);
    expect([count(':1.6', b), count(':1.5', c)]).toEqual([4, 2]);
    expect(clock.pending).toBe(0);

    const d = await rt.createSession(BOB, {}, '/d');
    rt.setStatisticsInterval(BOB, d, 1);
    await clock.advance(7000);
    rt.setStatisticsInterval(BOB, d, 0);
    await clock.advance(10_000);
    expect(count(':1.7', d)).toBe(2);
    expect(clock.pending).toBe(0);
    expect(logs).toContain(`statistics signals for ${d} to :1.7 stopped (requested)`);
  });

  it("root's subscription to another client's session ends when root leaves the bus; the owner's goes on", async () => {
    const { rt, clock, signals } = await setup();
    const b = await rt.createSession(ALICE, {}, '/b');
    rt.setStatisticsInterval(ROOT, b, 1);
    rt.setStatisticsInterval(ALICE, b, 1);
    await clock.advance(0);
    rt.clientGone(':1.5');
    await clock.advance(2000);
    expect(signals.filter((s) => s.subscriber === ':1.5')).toHaveLength(1);
    expect(signals.filter((s) => s.subscriber === ':1.6')).toHaveLength(3);
  });

  it('only the owner or root may ask; the interval must be 0 or 1..3600 s', async () => {
    const { rt, clock, signals } = await setup();
    const b = await rt.createSession(ALICE, {}, '/b');
    expect(codeOf(() => rt.setStatisticsInterval(BOB, b, 1))).toBe('NSD_ERR_NOT_OWNER');
    expect(codeOf(() => rt.setStatisticsInterval(ALICE, b, 3601))).toBe('NSD_ERR_BAD_STATISTICS_INTERVAL');
    expect(codeOf(() => rt.setStatisticsInterval(ALICE, '/sessions/nope', 1))).toBe('NSD_ERR_SESSION_NOT_FOUND');
    expect(codeOf(() => rt.setStatisticsInterval(ROOT, b, 3600))).toBe('no error');
    await clock.advance(0);
    expect(signals.map((s) => s.subscriber)).toEqual([':1.5']);
  });

  it('is NotSupported without accounting (no datapath), and not advertised', async () => {
    const { rt, clock } = await setup({ accounting: false });
    const b = await rt.createSession(ALICE, {}, '/b');
    expect(codeOf(() => rt.setStatisticsInterval(ALICE, b, 1))).toBe('NSD_ERR_NOT_SUPPORTED');
    expect(codeOf(() => rt.setStatisticsInterval(BOB, b, 1))).toBe('NSD_ERR_NOT_OWNER');
    expect(rt.capabilities()).not.toContain('StatisticsSignal');
    expect(clock.pending).toBe(0);
  });

  it('stop() while a dump is in flight sends nothing and leaves no timer', async () => {
    const { rt, clock, accounting, signals } = await setup();
    const a = await rt.createSession(ROOT, {}, '/a');
    let release!: () => void;
    accounting.gate = new Promise((r) => (release = r));
    rt.setStatisticsInterval(ROOT, a, 1);
    await clock.advance(0);
    expect(accounting.reads).toBe(1);
    const stopping = rt.stop();
    release();
    await stopping;
    await flush();
    expect(signals).toEqual([]);
    expect(clock.pending).toBe(0);
  });
});
