/**
 * The lifecycle view of link configuration's default routes (ConnMan's inactive → added →
 * active → removed; the transitions are link-config-plan.ts's {@link nextGatewayState}), fed by
 * the adapter's own requests, by the kernel's route notifications and by read-back dumps, and
 * the waiters for a route to become active. No I/O.
 */

import type { Family } from '../../core/services.js';
import type { Logger } from '../../ports.js';
import type { NetlinkMessage } from '../netlink/request-socket.js';
import { type GatewayState, kernelDefaultKey, type LifecycleEvent, nextGatewayState } from './link-config-plan.js';
import { decodeMessage } from './messages/codec.js';
import { RT_TABLE_MAIN, RTM } from './messages/constants.js';
import { decodeTableRoute } from './routes.js';

/** One default route in the lifecycle view. */
export interface GatewayLifecycle {
  key: string;
  family: Family;
  ifindex: number;
  gateway: string | null;
  /** As the kernel reports it (IPv6 metric 0 shows as 1024). */
  metric: number;
  state: GatewayState;
  /** The event that caused the current state. */
  via: LifecycleEvent;
}

/** What a new entry starts from (the route it tracks). */
export type GatewaySeed = Omit<GatewayLifecycle, 'state' | 'via' | 'key'>;

/** The seed of a route record. */
export function seedOf(r: { family: Family; ifindex: number; gateway: string; metric: number }): GatewaySeed {
  return { family: r.family, ifindex: r.ifindex, gateway: r.gateway === '' ? null : r.gateway, metric: r.metric };
}

export class GatewayTracker {
  readonly #entries = new Map<string, GatewayLifecycle>();
  readonly #waiters = new Set<{ key: string; done: (ok: boolean) => void }>();

  constructor(private readonly log: Logger) {}

  /** Applies `e` to the entry `key`; without a `seed` an unknown key is ignored. */
  feed(key: string, e: LifecycleEvent, seed?: GatewaySeed): void {
    let entry = this.#entries.get(key);
    if (!entry) {
      if (!seed) return;
      entry = { key, ...seed, state: 'inactive', via: e };
      this.#entries.set(key, entry);
    }
    const next = nextGatewayState(entry.state, e);
    if (next !== entry.state) {
      this.log('debug', `link-config: ${key}: ${entry.state} -> ${next} (${e})`);
      entry.state = next;
      entry.via = e;
    }
    if (next === 'active') {
      for (const w of [...this.#waiters]) if (w.key === key) w.done(true);
    }
  }

  /** Route notifications: only routes already tracked change (notifications never create entries). */
  onNotifications(msgs: readonly NetlinkMessage[]): void {
    for (const m of msgs) {
      if (m.type !== RTM.NEWROUTE && m.type !== RTM.DELROUTE) continue;
      const msg = decodeMessage(m.type, m.payload);
      const r = msg?.kind === 'route' ? decodeTableRoute(msg) : null;
      if (!r || r.table !== RT_TABLE_MAIN || r.dstLen !== 0 || r.srcLen !== 0) continue;
      this.feed(kernelDefaultKey(r), m.type === RTM.NEWROUTE ? 'kernel-new' : 'kernel-del');
    }
  }

  /** Every tracked entry. */
  entries(): GatewayLifecycle[] {
    return [...this.#entries.values()];
  }

  /** Copies of every entry, sorted by key. */
  lifecycle(): GatewayLifecycle[] {
    return this.entries()
      .map((e) => ({ ...e }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Resolves true once `key` is active, false after `timeoutMs` or at {@link stop}. */
  waitActive(key: string, timeoutMs: number): Promise<boolean> {
    if (this.#entries.get(key)?.state === 'active') return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const w = {
        key,
        done: (ok: boolean) => {
          clearTimeout(timer);
          this.#waiters.delete(w);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => w.done(false), timeoutMs);
      this.#waiters.add(w);
    });
  }

  /** Pending waits resolve false. */
  stop(): void {
    for (const w of [...this.#waiters]) w.done(false);
  }
}
