import { describe, expect, it, vi } from 'vitest';
import type { RoutingState, ServiceRouting } from '../../../../daemon/core/kernel-state-types.js';
import { StableRouting } from '../../../../daemon/core/stable-routing.js';

const svc = (id: string, table: number): ServiceRouting => ({
  serviceId: id,
  ifindex: table - 1000,
  ifname: `eth${id}`,
  table,
  mark: table << 16,
  routes: [{ family: 4, table, dst: '', dstLen: 0, gateway: '198.51.100.1', ifindex: table - 1000 }],
});
const fwmark = (table: number) => ({
  kind: 'fwmark' as const,
  family: 4 as const,
  priority: 100,
  table,
  mark: table << 16,
  mask: 0xffff0000,
});
const source = (src: string) => ({
  kind: 'source' as const,
  family: 4 as const,
  priority: 200,
  table: 1002,
  src,
  srcLen: 32,
});

/** A fresh state (new objects throughout, as the core builds it). */
const build = (sources: string[]): RoutingState => ({
  services: [svc('a', 1001), svc('b', 1002)],
  rules: [fwmark(1001), fwmark(1002), ...sources.map(source)],
});

describe('StableRouting', () => {
  it('does not serialise again the parts a builder hands back unchanged (its own objects or the settled ones)', () => {
    const s = new StableRouting();
    const services = [svc('a', 1001), svc('b', 1002)];
    const rules = [fwmark(1001), fwmark(1002)];
    const first = s.settle({ services, rules }, null);
    const spy = vi.spyOn(JSON, 'stringify');
    try {
      const added = source('198.51.100.18');
      const next = s.settle({ services, rules: [...rules, added] }, first);
      expect(spy).toHaveBeenCalledTimes(1); // the new source rule only
      expect(next.services).toEqual(first.services);
      expect(s.settle({ services: next.services, rules: next.rules }, next)).toBe(next);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('hands back the last state itself when a rebuilt one is equal', () => {
    const s = new StableRouting();
    const first = s.settle(build(['198.51.100.18']), null);
    expect(s.settle(build(['198.51.100.18']), first)).toBe(first);
  });

  it('keeps unchanged services and rules as the same objects and only the new rule new', () => {
    const s = new StableRouting();
    const first = s.settle(build([]), null);
    const next = s.settle(build(['198.51.100.18']), first);
    expect(next).not.toBe(first);
    expect(next.services[0]).toBe(first.services[0]);
    expect(next.services[1]).toBe(first.services[1]);
    expect(next.rules.slice(0, 2)).toEqual(first.rules);
    expect(next.rules[0]).toBe(first.rules[0]);
    expect(next.rules[2]).toEqual(source('198.51.100.18'));
    // The rule going again: the state equals the first by value, its parts are the same objects.
    const back = s.settle(build([]), next);
    expect(back.rules).toHaveLength(2);
    expect(back.rules[1]).toBe(first.rules[1]);
  });

  it('a changed service is a new object; after reset nothing is reused', () => {
    const s = new StableRouting();
    const first = s.settle(build([]), null);
    const moved = build([]);
    moved.services[1] = { ...svc('b', 1002), ifindex: 7 };
    const next = s.settle(moved, first);
    expect(next.services[0]).toBe(first.services[0]);
    expect(next.services[1]).not.toBe(first.services[1]);
    expect(next.services[1]!.ifindex).toBe(7);
    s.reset();
    const fresh = build([]);
    expect(s.settle(fresh, null).services[0]).toBe(fresh.services[0]);
  });
});
