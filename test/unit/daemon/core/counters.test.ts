import { describe, expect, it } from 'vitest';
import type { LinkCounters } from '../../../../daemon/core/counters.js';
import { COUNTER_KEYS, CounterTable, MAX_COUNTERS_PER_CLIENT, toUint32 } from '../../../../daemon/core/counters.js';
import {
  BadCounterPeriodError,
  CounterExistsError,
  CounterLimitError,
  CounterNotRegisteredError,
} from '../../../../daemon/core/errors.js';
import type { PropDict } from '../../../../daemon/core/properties.js';

const SVC = 'ethernet_020000000001_cable';

function link(over: Partial<LinkCounters> = {}): LinkCounters {
  return {
    rxPackets: 0n,
    txPackets: 0n,
    rxBytes: 0n,
    txBytes: 0n,
    rxErrors: 0n,
    txErrors: 0n,
    rxDropped: 0n,
    txDropped: 0n,
    ...over,
  };
}

/** A dict's plain values. */
function values(d: PropDict): Record<string, unknown> {
  return Object.fromEntries(Object.entries(d).map(([k, p]) => [k, p.value]));
}

describe('CounterTable registrations', () => {
  it('registers per (client, path); a second registration of the same path by the same client is AlreadyExists', () => {
    const t = new CounterTable();
    const a = t.register(':1.1', '/counter', 0, 1);
    expect(a).toMatchObject({ owner: ':1.1', path: '/counter', accuracyKb: 0, periodS: 1 });
    expect(() => t.register(':1.1', '/counter', 0, 5)).toThrow(CounterExistsError);
    // Another client's object at the same path is a different counter.
    expect(t.register(':1.2', '/counter', 10, 5).owner).toBe(':1.2');
    expect(t.all()).toHaveLength(2);
  });

  it('rejects a period of 0 s', () => {
    expect(() => new CounterTable().register(':1.1', '/c', 0, 0)).toThrow(BadCounterPeriodError);
  });

  it('caps the counters per client', () => {
    const t = new CounterTable();
    for (let i = 0; i < MAX_COUNTERS_PER_CLIENT; i++) t.register(':1.1', `/c${i}`, 0, 1);
    expect(() => t.register(':1.1', '/one-more', 0, 1)).toThrow(CounterLimitError);
    expect(t.register(':1.2', '/c0', 0, 1).owner).toBe(':1.2');
  });

  it("unregister of an unknown path, or of another client's counter, is NotRegistered", () => {
    const t = new CounterTable();
    t.register(':1.1', '/c', 0, 1);
    expect(() => t.unregister(':1.1', '/other')).toThrow(CounterNotRegisteredError);
    expect(() => t.unregister(':1.2', '/c')).toThrow(CounterNotRegisteredError);
    expect(t.unregister(':1.1', '/c').path).toBe('/c');
    expect(t.all()).toEqual([]);
  });

  it('a client leaving ends all its counters and only those', () => {
    const t = new CounterTable();
    t.register(':1.1', '/a', 0, 1);
    t.register(':1.1', '/b', 0, 1);
    const keep = t.register(':1.2', '/a', 0, 1);
    expect(t.ownerGone(':1.1').map((r) => r.path)).toEqual(['/a', '/b']);
    expect(t.all()).toEqual([keep]);
    expect(t.byKey(keep.key)).toBe(keep);
  });
});

describe('CounterTable Usage', () => {
  it('the first Usage carries every key as u in ConnMan order, roaming all zero; later ones only changed keys', () => {
    const t = new CounterTable();
    const reg = t.register(':1.1', '/c', 0, 1);
    expect(t.usage(reg, SVC, 0), 'nothing sampled yet').toBeNull();
    t.sample(SVC, 11, link({ rxBytes: 5000n, rxPackets: 10n }), 0);
    const first = t.usage(reg, SVC, 0)!;
    expect(Object.keys(first.home)).toEqual([...COUNTER_KEYS]);
    expect(Object.values(first.home).every((p) => p.signature === 'u')).toBe(true);
    // The first sample is the baseline: counting starts there.
    expect(values(first.home)).toEqual(Object.fromEntries(COUNTER_KEYS.map((k) => [k, 0])));
    expect(Object.keys(first.roaming)).toEqual([...COUNTER_KEYS]);
    expect(values(first.roaming)).toEqual(Object.fromEntries(COUNTER_KEYS.map((k) => [k, 0])));

    t.sample(SVC, 11, link({ rxBytes: 6500n, rxPackets: 12n, txBytes: 40n, txPackets: 1n }), 1000);
    const second = t.usage(reg, SVC, 1000)!;
    expect(values(second.home)).toEqual({
      'RX.Packets': 2,
      'TX.Packets': 1,
      'RX.Bytes': 1500,
      'TX.Bytes': 40,
      Time: 1,
    });
    expect(second.roaming).toEqual({});

    expect(t.usage(reg, SVC, 1500), 'nothing changed (Time still 1 s)').toBeNull();
    t.sample(SVC, 11, link({ rxBytes: 6500n, rxPackets: 12n, txBytes: 40n, txPackets: 1n, rxDropped: 3n }), 1900);
    expect(values(t.usage(reg, SVC, 1900)!.home)).toEqual({ 'RX.Dropped': 3 });
  });

  it('totals are per service and shared: a counter registered later sees the same totals, with every key first', () => {
    const t = new CounterTable();
    const a = t.register(':1.1', '/a', 0, 1);
    t.sample(SVC, 11, link({ rxBytes: 100n }), 0);
    t.usage(a, SVC, 0);
    t.sample(SVC, 11, link({ rxBytes: 900n }), 500);
    t.usage(a, SVC, 500);
    const b = t.register(':1.2', '/b', 0, 1);
    const first = t.usage(b, SVC, 500)!;
    expect(Object.keys(first.home)).toHaveLength(COUNTER_KEYS.length);
    expect(first.home['RX.Bytes']!.value).toBe(800);
  });

  it('accuracy holds Usage back until RX+TX moved by that many kB, then sends every key changed since the last call', () => {
    const t = new CounterTable();
    const reg = t.register(':1.1', '/c', 2, 1);
    t.sample(SVC, 11, link(), 0);
    t.usage(reg, SVC, 0);
    t.sample(SVC, 11, link({ rxBytes: 1000n, rxPackets: 1n }), 1000);
    expect(t.usage(reg, SVC, 1000), '1000 B < 2 kB').toBeNull();
    t.sample(SVC, 11, link({ rxBytes: 1500n, txBytes: 548n, rxPackets: 2n, txPackets: 1n }), 3000);
    const u = t.usage(reg, SVC, 3000)!;
    expect(values(u.home)).toEqual({ 'RX.Packets': 2, 'TX.Packets': 1, 'RX.Bytes': 1500, 'TX.Bytes': 548, Time: 3 });
    // The threshold counts from the last Usage sent.
    t.sample(SVC, 11, link({ rxBytes: 2000n, txBytes: 548n, rxPackets: 3n, txPackets: 1n }), 4000);
    expect(t.usage(reg, SVC, 4000)).toBeNull();
  });

  it('wraps totals at 2^32 like the u ConnMan sends', () => {
    expect(toUint32(2n ** 32n + 7n)).toBe(7);
    expect(toUint32(2n ** 32n - 1n)).toBe(4294967295);
    const t = new CounterTable();
    const reg = t.register(':1.1', '/c', 0, 1);
    t.sample(SVC, 11, link({ rxBytes: 10n }), 0);
    t.usage(reg, SVC, 0);
    t.sample(SVC, 11, link({ rxBytes: 10n + 2n ** 32n + 5n }), 100);
    expect(t.usage(reg, SVC, 100)!.home['RX.Bytes']!.value).toBe(5);
  });

  it('a kernel counter that went down restarted: its new value counts as the delta', () => {
    const t = new CounterTable();
    t.sample(SVC, 11, link({ txBytes: 1000n }), 0);
    t.sample(SVC, 11, link({ txBytes: 1300n }), 0);
    t.sample(SVC, 11, link({ txBytes: 200n }), 0);
    expect(t.values(SVC, 0)![3]).toBe(500);
  });

  it('a new ifindex (link re-created) re-baselines without counting the jump', () => {
    const t = new CounterTable();
    t.sample(SVC, 11, link({ rxBytes: 100n }), 0);
    t.sample(SVC, 11, link({ rxBytes: 300n }), 0);
    t.sample(SVC, 14, link({ rxBytes: 90_000n }), 0);
    t.sample(SVC, 14, link({ rxBytes: 90_050n }), 0);
    expect(t.values(SVC, 0)![2]).toBe(250);
  });

  it('Time counts connected seconds only', () => {
    const t = new CounterTable();
    t.sample(SVC, 11, link(), 0);
    t.setConnected(SVC, false, 4_500);
    expect(t.values(SVC, 60_000)![8]).toBe(4);
    t.setConnected(SVC, true, 60_000);
    expect(t.values(SVC, 62_600)![8]).toBe(7);
  });

  it('ResetCounters zeroes totals and time for every counter; the next Usage is sent whatever the accuracy', () => {
    const t = new CounterTable();
    const precise = t.register(':1.1', '/p', 0, 1);
    const coarse = t.register(':1.2', '/q', 1024, 1);
    t.sample(SVC, 11, link(), 0);
    t.usage(precise, SVC, 0);
    t.usage(coarse, SVC, 0);
    t.sample(SVC, 11, link({ rxBytes: 50_000n, rxPackets: 40n }), 3000);
    expect(values(t.usage(precise, SVC, 3000)!.home)).toMatchObject({ 'RX.Bytes': 50_000, Time: 3 });
    t.resetService(SVC, true, 3000);
    expect(t.values(SVC, 3000)).toEqual(COUNTER_KEYS.map(() => 0));
    // The first sample after the reset is the new baseline.
    t.sample(SVC, 11, link({ rxBytes: 50_100n, rxPackets: 41n }), 3100);
    expect(t.values(SVC, 3100)).toEqual(COUNTER_KEYS.map(() => 0));
    expect(values(t.usage(precise, SVC, 3100)!.home)).toEqual({ 'RX.Packets': 0, 'RX.Bytes': 0, Time: 0 });
    // The coarse counter was last told 0 everywhere: nothing differs, so nothing to send yet.
    expect(t.usage(coarse, SVC, 3100)).toBeNull();
    t.sample(SVC, 11, link({ rxBytes: 50_200n, rxPackets: 42n }), 3200);
    expect(values(t.usage(coarse, SVC, 3200)!.home), 'forced despite 1 MB accuracy').toEqual({
      'RX.Packets': 1,
      'RX.Bytes': 100,
    });
    expect(t.usage(precise, SVC, 3200)).not.toBeNull();
  });

  it('a removed service loses its totals; when it comes back, Usage starts with every key again', () => {
    const t = new CounterTable();
    const reg = t.register(':1.1', '/c', 0, 1);
    t.sample(SVC, 11, link({ rxBytes: 5n }), 0);
    t.usage(reg, SVC, 0);
    t.removeService(SVC);
    expect(t.values(SVC, 0)).toBeNull();
    expect(t.usage(reg, SVC, 0)).toBeNull();
    t.sample(SVC, 12, link({ rxBytes: 7n }), 0);
    expect(Object.keys(t.usage(reg, SVC, 0)!.home)).toHaveLength(COUNTER_KEYS.length);
  });

  it('an unregistered counter gets nothing', () => {
    const t = new CounterTable();
    const reg = t.register(':1.1', '/c', 0, 1);
    t.sample(SVC, 11, link(), 0);
    t.unregister(':1.1', '/c');
    expect(t.usage(reg, SVC, 0)).toBeNull();
  });
});
