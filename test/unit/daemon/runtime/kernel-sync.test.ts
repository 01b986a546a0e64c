/**
 * KernelSync's start: a reconcile asked for during a dispatch starts after it (so the call's reply
 * and Updates are written first), yet the generation is counted at once, so a waiter for "my
 * change" is exact; requests before the start coalesce into one apply; a stop before the start
 * applies nothing.
 */
import { describe, expect, it } from 'vitest';
import type { FirewallState, KernelState, RoutingState } from '../../../../daemon/core/kernel-state-types.js';
import type { Firewall, Routing } from '../../../../daemon/ports.js';
import { KernelSync } from '../../../../daemon/runtime/kernel-sync.js';

const STATE: KernelState = {
  routing: { services: [], rules: [] },
  firewall: { mask: 0xff00, tagMask: 0xff, sessions: [], classifiers: [] },
};

function world() {
  const log: string[] = [];
  const routing: Routing = {
    apply: async (_d: RoutingState) => void log.push('routing'),
    clear: async () => void log.push('routing clear'),
  };
  const firewall = {
    apply: async (_d: FirewallState) => void log.push('firewall'),
    clear: async () => void log.push('firewall clear'),
  } as unknown as Firewall;
  let desired = 0;
  const sync = new KernelSync({
    routing,
    firewall,
    desired: () => {
      desired++;
      return STATE;
    },
    log: () => {},
  });
  return { sync, log, desired: () => desired };
}

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('KernelSync start', () => {
  it('starts after the current dispatch, counts the generation at once, and coalesces', async () => {
    const w = world();
    w.sync.request();
    const gen = w.sync.generation;
    w.sync.request();
    expect(w.sync.generation).toBe(gen + 1);
    // Nothing ran synchronously, not even the desired state.
    expect(w.desired()).toBe(0);
    expect(w.log).toEqual([]);
    let reached = false;
    const wait = w.sync.reached({ stage: 'done', gen: w.sync.generation }).then(() => (reached = true));
    await Promise.resolve();
    expect(w.log).toEqual([]);
    await wait;
    expect(reached).toBe(true);
    // Both requests were made before the start: one apply.
    expect(w.log).toEqual(['routing', 'firewall']);
    expect(w.desired()).toBe(1);
    await w.sync.settled();
  });

  it('a stop before the start applies nothing', async () => {
    const w = world();
    w.sync.request();
    await w.sync.stop();
    await nextTurn();
    await nextTurn();
    expect(w.log).toEqual([]);
    expect(w.desired()).toBe(0);
  });
});
