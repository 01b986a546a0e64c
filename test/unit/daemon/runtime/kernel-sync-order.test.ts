/**
 * An Update waiting for the routing stage is written before the firewall apply starts
 * (kernel-sync.ts): the firewall may do synchronous netlink work at its start.
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

function world() {
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
  });
  return { sync, log, set: (withSource: boolean) => (desired = { ...desired, routing: routing(withSource) }) };
}

describe('KernelSync stages', () => {
  it('an Update waiting for the routing stage is written before the firewall apply starts', async () => {
    const w = world();
    w.sync.request();
    const sent = w.sync.after({ stage: 'routed', gen: w.sync.generation }, () => w.log.push('update'));
    await sent;
    await w.sync.settled();
    expect(w.log).toEqual(['routing with source rule', 'update', 'firewall start']);
    await w.sync.stop();
  });
});
