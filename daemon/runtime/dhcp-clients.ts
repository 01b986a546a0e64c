/**
 * The DHCPv4 clients manage mode runs, one per link, and a watchdog on each lease: the client
 * reports its own expiry, but one that hangs or is killed would leave an address the server
 * may give to someone else, so a timer ends the lease if no renewal comes in time.
 */
import type { DhcpLeaseEvent } from '../core/manage-plan.js';
import type { Clock, DhcpClient, Logger, StopOptions } from '../ports.js';

/** Node timers stop at 2^31-1 ms (24.8 days); a longer lease is left to the client alone. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DhcpClientsDeps {
  client: DhcpClient;
  /** A lease event, or the watchdog firing (type `expire`). */
  onLease: (ifname: string, e: DhcpLeaseEvent) => void;
  clock: Clock;
  log: Logger;
}

export class DhcpClients {
  readonly #d: DhcpClientsDeps;
  readonly #running = new Set<string>();
  readonly #leaseTimers = new Map<string, { cancel(): void }>();

  constructor(deps: DhcpClientsDeps) {
    this.#d = deps;
  }

  has(ifname: string): boolean {
    return this.#running.has(ifname);
  }

  /** The links with a running client (a copy: stopping one while iterating is fine). */
  running(): string[] {
    return [...this.#running];
  }

  /** Starts a client on `ifname`; throws what the client throws, and then none runs there. */
  start(ifname: string): void {
    this.#d.client.start(ifname, (e) => this.#lease(ifname, e));
    this.#running.add(ifname);
  }

  /** Stops the client on `ifname` (at once as far as this class is concerned); resolves when it has ended. */
  stop(ifname: string, opts?: StopOptions): Promise<void> {
    this.#running.delete(ifname);
    this.#cancelLeaseTimer(ifname);
    return this.#d.client.stop(ifname, opts);
  }

  /** Stops every client (each sends its RELEASE). */
  async stopAll(): Promise<void> {
    for (const t of this.#leaseTimers.values()) t.cancel();
    this.#leaseTimers.clear();
    await Promise.all([...this.#running].map((ifname) => this.#d.client.stop(ifname)));
    this.#running.clear();
  }

  /** Forwards a lease event and keeps a timer that ends the lease if nobody renews it. */
  #lease(ifname: string, e: DhcpLeaseEvent): void {
    this.#cancelLeaseTimer(ifname);
    if ((e.type === 'bound' || e.type === 'renew') && e.leaseSeconds > 0 && e.leaseSeconds * 1000 <= MAX_TIMER_MS) {
      this.#leaseTimers.set(
        ifname,
        this.#d.clock.setTimeout(() => {
          this.#leaseTimers.delete(ifname);
          this.#d.log('warn', `manage: DHCP lease of ${e.address} on ${ifname} expired without renewal`);
          this.#d.onLease(ifname, { ...e, type: 'expire' });
        }, e.leaseSeconds * 1000),
      );
    }
    this.#d.onLease(ifname, e);
  }

  #cancelLeaseTimer(ifname: string): void {
    this.#leaseTimers.get(ifname)?.cancel();
    this.#leaseTimers.delete(ifname);
  }
}
