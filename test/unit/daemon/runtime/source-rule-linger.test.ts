/**
 * Source rules linger after the last session that wanted them (source-rule-linger.ts), and an
 * Update waiting for the routing stage is written before the firewall apply starts (kernel-sync.ts).
 */
import { describe, expect, it } from 'vitest';
import type {
  FirewallState,
  KernelState,
  PolicyRule,
  RoutingState,
} from '../../../../daemon/core/kernel-state-types.js';
import type { Firewall, Routing } from '../../../../daemon/ports.js';
import { KernelSync } from '../../../../daemon/runtime/kernel-sync.js';
import { SourceRuleLinger } from '../../../../daemon/runtime/source-rule-linger.js';

const SOURCE: PolicyRule = {
  kind: 'source',
  family: 4,
  priority: 10001,
  src: '198.51.100.18',
  srcLen: 32,
  table: 10001,
};
const FWMARK: PolicyRule = { kind: 'fwmark', family: 4, priority: 10501, mark: 0x10000, mask: 0xff0000, table: 10001 };
const SERVICE = { serviceId: 'b', ifindex: 12, ifname: 'eth-b', table: 10001, mark: 0x10000, routes: [] };

const routing = (withSource: boolean, withService = true): RoutingState => ({
  services: withService ? [SERVICE] : [],
  rules: withService ? (withSource ? [SOURCE, FWMARK] : [FWMARK]) : [],
});
const hasSource = (s: RoutingState) => s.rules.some((r) => r.kind === 'source');

describe('SourceRuleLinger', () => {
  it('keeps a dropped source rule until it expires, then asks for a reconcile that drops it', () => {
    let now = 0;
    let expired = 0;
    const l = new SourceRuleLinger(
      2000,
      () => expired++,
      () => now,
    );
    expect(l.apply(routing(true)).rules).toEqual([SOURCE, FWMARK]);
    const kept = l.apply(routing(false));
    expect(hasSource(kept)).toBe(true);
    expect(l.lingering).toBe(1);
    now = 1999;
    expect(hasSource(l.apply(routing(false)))).toBe(true);
    now = 2000;
    expect(hasSource(l.apply(routing(false)))).toBe(false);
    expect(l.lingering).toBe(0);
    l.stop();
    expect(expired).toBe(0); // the fake clock never let the real timer fire
  });

  it('a session that comes back within the linger finds the rule as it was', () => {
    let now = 0;
    const l = new SourceRuleLinger(
      2000,
      () => {},
      () => now,
    );
    l.apply(routing(true));
    l.apply(routing(false));
    now = 500;
    expect(l.apply(routing(true)).rules).toEqual([SOURCE, FWMARK]);
    expect(l.lingering).toBe(0);
    l.stop();
  });

  it('a rule whose table went (service disconnected) goes at once; 0 ms means no linger', () => {
    const l = new SourceRuleLinger(2000, () => {});
    l.apply(routing(true));
    expect(l.apply(routing(false, false)).rules).toEqual([]);
    expect(l.lingering).toBe(0);
    const none = new SourceRuleLinger(0, () => {});
    none.apply(routing(true));
    expect(hasSource(none.apply(routing(false)))).toBe(false);
  });
});

function world(lingerMs: number) {
  const log: string[] = [];
  let desired: KernelState = {
    routing: routing(true),
    firewall: { mask: 0xff00, tagMask: 0xff, sessions: [], classifiers: [] },
  };
  const r: Routing = {
    apply: async (d: RoutingState) => void log.push(`routing ${hasSource(d) ? 'with' : 'without'} source rule`),
    clear: async () => {},
  };
  const firewall = {
    // Synchronous work at its start, as a netlink adapter does.
    apply: (_d: FirewallState) => {
      log.push('firewall start');
      return Promise.resolve();
    },
    clear: async () => {},
  } as unknown as Firewall;
  const sync = new KernelSync({
    routing: r,
    firewall,
    desired: () => desired,
    log: () => {},
    sourceRuleLingerMs: lingerMs,
  });
  return { sync, log, set: (withSource: boolean) => (desired = { ...desired, routing: routing(withSource) }) };
}

describe('KernelSync with a linger', () => {
  it('applies the lingering rule, then reconciles by itself when it expires', async () => {
    const w = world(40);
    w.sync.request();
    await w.sync.settled();
    w.set(false);
    w.sync.request();
    await w.sync.settled();
    expect(w.log.filter((l) => l.startsWith('routing'))).toEqual([
      'routing with source rule',
      'routing with source rule',
    ]);
    await new Promise((r) => setTimeout(r, 120));
    await w.sync.settled();
    expect(w.log.filter((l) => l.startsWith('routing')).at(-1)).toBe('routing without source rule');
    await w.sync.stop();
  });

  it('an Update waiting for the routing stage is written before the firewall apply starts', async () => {
    const w = world(0);
    w.sync.request();
    const sent = w.sync.after({ stage: 'routed', gen: w.sync.generation }, () => w.log.push('update'));
    await sent;
    await w.sync.settled();
    expect(w.log).toEqual(['routing with source rule', 'update', 'firewall start']);
    await w.sync.stop();
  });
});
