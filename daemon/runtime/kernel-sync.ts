/**
 * Keeps the kernel in step with the engine's desired state, and lets Updates wait for it.
 *
 * Reconciles are coalesced: at most one apply in flight and one more queued, whatever the event
 * rate. Every request bumps a generation; each stage of an apply (routing, then firewall) records
 * the generation it applied, so a caller can wait for "the routing that includes my change" and
 * nothing more. Update batches queue here in order, each waiting for the stage it needs.
 */

import type { KernelState } from '../core/kernel-state-types.js';
import type { Firewall, Logger, Routing } from '../ports.js';

/** A reconcile stage and the state generation it must have reached. */
export interface KernelWait {
  stage: 'routed' | 'done';
  gen: number;
}

export interface KernelSyncDeps {
  routing?: Routing;
  firewall?: Firewall;
  desired(): KernelState;
  log: Logger;
}

export class KernelSync {
  readonly #d: KernelSyncDeps;
  #running = false;
  #again = false;
  #verify = false;
  #routingStale = false;
  #idle: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #gen = { requested: 0, routed: 0, done: 0 };
  #waiters: Array<KernelWait & { resolve: () => void }> = [];
  #queue: Array<{ cond: KernelWait | null; run: () => void }> | null = null;

  constructor(deps: KernelSyncDeps) {
    this.#d = deps;
  }

  /** Is there a kernel to keep in step at all? */
  get active(): boolean {
    return Boolean(this.#d.routing || this.#d.firewall);
  }

  /** The generation the next apply will carry (read right after `request`). */
  get generation(): number {
    return this.#gen.requested;
  }

  /** Update batches are queued (later ones must queue behind them to keep the order). */
  get queued(): boolean {
    return this.#queue !== null;
  }

  /**
   * Asks for a reconcile. With `verify` both adapters read the kernel back first; otherwise each
   * may plan against what it applied last (routing still reads back after
   * {@link KernelSync.routingMayHaveChanged}).
   */
  request(verify = false): void {
    // Once stopping only the final clear() may touch the kernel: a late event (clients leaving
    // the bus at shutdown) would re-create what clear() removes.
    if (!this.active || this.#stopped) return;
    this.#gen.requested++;
    this.#verify ||= verify;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    // The reconcile starts after the current dispatch: its synchronous part (the desired state,
    // the routing diff) is not needed before the reply and the Updates of the call that asked
    // for it, which are written first. The generation is already counted, so waiters are exact.
    this.#idle = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#loop());
  }

  /**
   * The kernel may have changed routes of ours on its own (a link went down or lost an address:
   * its routes go with it): the next routing apply reads the kernel back.
   */
  routingMayHaveChanged(): void {
    this.#routingStale = true;
  }

  async #loop(): Promise<void> {
    const { routing, firewall, log } = this.#d;
    if (this.#stopped) {
      this.#running = false;
      this.#again = false;
      return;
    }
    do {
      this.#again = false;
      const verify = this.#verify;
      const verifyRouting = verify || this.#routingStale;
      this.#verify = false;
      this.#routingStale = false;
      const gen = this.#gen.requested;
      const desired = this.#d.desired();
      // Routes and rules first, so a newly marked packet never meets a rule without routes.
      try {
        if (routing) await routing.apply(desired.routing, { verify: verifyRouting });
      } catch (err) {
        log('error', `routing reconcile failed: ${(err as Error).message}`);
      }
      // Even a failed apply releases what waits for it: a client must not hang. Updates released
      // here are written (microtasks) before the firewall apply starts: the firewall may do
      // synchronous netlink work at its start, which must not sit between the rule and the Update.
      if (this.#advance('routed', gen) && firewall) await new Promise<void>((r) => setImmediate(r));
      try {
        await firewall?.apply(desired.firewall, { verify });
      } catch (err) {
        log('error', `firewall reconcile failed: ${(err as Error).message}`);
      }
      this.#advance('done', gen);
    } while (this.#again && !this.#stopped);
    this.#again = false;
    this.#running = false;
  }

  /** Resolves when no reconcile is running or queued. */
  async settled(): Promise<void> {
    while (this.#running || this.#again) await this.#idle;
  }

  /** Resolves once `stage` has applied generation `gen` (or stopping released everyone). */
  reached(w: KernelWait): Promise<void> {
    if (this.#gen[w.stage] >= w.gen) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ ...w, resolve }));
  }

  /** Records that `stage` applied `gen`; true when it released a waiter. */
  #advance(stage: KernelWait['stage'], gen: number): boolean {
    this.#gen[stage] = Math.max(this.#gen[stage], gen);
    const before = this.#waiters.length;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#gen[w.stage] < w.gen) return true;
      w.resolve();
      return false;
    });
    return this.#waiters.length < before;
  }

  /**
   * Runs `send` once `cond` is reached (or, with no condition, once every batch queued before it
   * ran). Batches run in order. Resolves after `send` ran.
   */
  after(cond: KernelWait | null, send: () => void): Promise<void> {
    return new Promise<void>((resolve) => {
      const entry = {
        cond,
        run: () => {
          send();
          resolve();
        },
      };
      if (this.#queue) {
        this.#queue.push(entry);
        return;
      }
      this.#queue = [entry];
      void (async () => {
        while (this.#queue?.length) {
          const next = this.#queue.shift()!;
          if (next.cond) await this.reached(next.cond);
          next.run();
        }
        this.#queue = null;
      })();
    });
  }

  /** No more reconciles; everything waiting is released. Resolves when the last apply ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#advance('routed', Infinity);
    this.#advance('done', Infinity);
    await this.#idle;
  }
}
