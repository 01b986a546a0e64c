/**
 * ConnMan's per-service counters (`net.connman.Counter`): one timer per registration, link
 * statistics read once for all counters due together, `Usage` calls through BusEvents. The
 * arithmetic (totals, accuracy, home and roaming) is core/counters.ts.
 */
import { servicePath } from '../../lib/protocol.js';
import type { BusCaller } from '../api.js';
import { type CounterRegistration, CounterTable } from '../core/counters.js';
import type { Effects } from '../core/effects.js';
import type { Engine } from '../core/engine.js';
import { NotSupportedError, RootOnlyError, ServiceNotFoundError } from '../core/errors.js';
import { isConnected } from '../core/services.js';
import type { BusEvents, Clock, LinkStats, Logger } from '../ports.js';

/** Node timers take at most 2^31-1 ms; a longer counter period is served at that interval. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ServiceCountersDeps {
  engine: Engine;
  events: BusEvents;
  clock: Clock;
  /** Without it RegisterCounter is NotSupported. */
  linkStats?: LinkStats;
  log: Logger;
}

export class ServiceCounters {
  readonly #d: ServiceCountersDeps;
  readonly #table = new CounterTable();
  readonly #timers = new Map<string, { cancel(): void }>();
  /** The statistics read in flight: counters whose periods coincide share it. */
  #statsRead: Promise<void> | null = null;
  #stopping = false;

  constructor(deps: ServiceCountersDeps) {
    this.#d = deps;
  }

  register(caller: BusCaller, path: string, accuracy: number, period: number): void {
    if (!this.#d.linkStats) throw new NotSupportedError('per-service counters need link statistics (not configured)');
    const reg = this.#table.register(caller.sender, path, accuracy, period);
    this.#d.log('debug', `counter ${reg.owner}${reg.path} registered (accuracy ${accuracy} kB, period ${period} s)`);
    // The first Usage (every key) goes out right after the reply, then one per period.
    this.#arm(reg, 0);
  }

  unregister(caller: BusCaller, path: string): void {
    const reg = this.#table.unregister(caller.sender, path);
    this.#disarm(reg);
    this.#d.log('debug', `counter ${reg.owner}${reg.path} unregistered`);
  }

  /** `Service.ResetCounters()`. */
  resetService(caller: BusCaller, serviceId: string): void {
    const s = this.#d.engine.registry.byId(serviceId);
    if (!s) throw new ServiceNotFoundError(serviceId);
    // The totals are shared by every client's counters: resetting them is an admin's call.
    if (caller.uid !== 0) throw new RootOnlyError('reset service counters');
    this.#table.resetService(serviceId, isConnected(s.state), this.#d.clock.now());
  }

  /** A client left the bus: its counters end. */
  ownerGone(sender: string): void {
    for (const reg of this.#table.ownerGone(sender)) {
      this.#disarm(reg);
      this.#d.log('debug', `counter ${reg.owner}${reg.path} ended: its client left the bus`);
    }
  }

  /** Counters' `Time` runs only while a service is connected; a removed service's totals go. */
  track(fx: Effects): void {
    if (!fx.removedServices.length && !fx.changedServices.size) return;
    const now = this.#d.clock.now();
    for (const id of fx.removedServices) this.#table.removeService(id);
    for (const id of fx.changedServices) {
      const s = this.#d.engine.registry.byId(id);
      if (s) this.#table.setConnected(id, isConnected(s.state), now);
    }
  }

  /** Shutdown: every counter gets `Release` (ConnMan releases them only then, __connman_counter_cleanup). */
  stop(): void {
    this.#stopping = true;
    for (const reg of this.#table.all()) this.#d.events.counterRelease(reg.owner, reg.path);
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  #arm(reg: CounterRegistration, ms: number): void {
    this.#timers.set(
      reg.key,
      this.#d.clock.setTimeout(() => void this.#tick(reg), ms),
    );
  }

  #disarm(reg: CounterRegistration): void {
    this.#timers.get(reg.key)?.cancel();
    this.#timers.delete(reg.key);
  }

  #live(reg: CounterRegistration): boolean {
    return !this.#stopping && this.#table.byKey(reg.key) === reg;
  }

  /** Samples every connected service, sends `reg` what is due, and re-arms its timer. */
  async #tick(reg: CounterRegistration): Promise<void> {
    this.#timers.delete(reg.key);
    if (!this.#live(reg)) return;
    try {
      await this.#sampleConnected();
    } catch (err) {
      this.#d.log('warn', `counter ${reg.owner}${reg.path}: cannot read link statistics: ${(err as Error).message}`);
    }
    // Unregistered, its client gone, or the daemon stopping while the read was in flight.
    if (!this.#live(reg)) return;
    const now = this.#d.clock.now();
    for (const s of this.#d.engine.services()) {
      if (!isConnected(s.state)) continue;
      const usage = this.#table.usage(reg, s.id, now);
      if (usage) this.#d.events.counterUsage(reg.owner, reg.path, servicePath(s.id), usage.home, usage.roaming);
    }
    this.#arm(reg, Math.min(reg.periodS * 1000, MAX_TIMER_MS));
  }

  #sampleConnected(): Promise<void> {
    this.#statsRead ??= this.#readStats().finally(() => {
      this.#statsRead = null;
    });
    return this.#statsRead;
  }

  async #readStats(): Promise<void> {
    const { linkStats: stats, engine } = this.#d;
    const services = engine.services().filter((s) => isConnected(s.state));
    if (!stats || services.length === 0) return;
    const read = await stats.read(services.map((s) => s.ifindex));
    const now = this.#d.clock.now();
    for (const s of services) {
      const c = read.get(s.ifindex);
      // The service may have gone or disconnected during the read; its ifindex may be reused.
      const cur = engine.registry.byId(s.id);
      if (c && cur && cur.ifindex === s.ifindex && isConnected(cur.state)) this.#table.sample(s.id, s.ifindex, c, now);
    }
  }
}
