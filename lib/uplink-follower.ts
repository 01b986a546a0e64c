/**
 * A session's watch of the daemon's service list, for its uplink's properties (nameservers,
 * metered, roaming, captive portal): the list as last delivered, and a deferred "the list
 * changed" so that a list and the Update of the same move, read in one tick, reach the app as one
 * update. Internal: not re-exported from the package.
 */
import type { ServiceInfo } from './manager-transport.js';
import type { Transport } from './transport.js';
import { type UplinkProperties, uplinkPropertiesFor } from './uplink-props.js';

/** What the follower tells its session. */
export interface UplinkFollowerEvents {
  /** The list changed (deferred to a microtask, coalesced): re-apply the bound uplink's properties. */
  changed(): void;
  /** A non-empty list arrived: the daemon is (probably) there. */
  servicesSeen(): void;
}

export class UplinkFollower {
  #services: readonly ServiceInfo[] = [];
  #unwatch: (() => void) | null = null;
  #scheduled = false;
  readonly #events: UplinkFollowerEvents;

  constructor(events: UplinkFollowerEvents) {
    this.#events = events;
  }

  /**
   * Starts watching `transport`'s services; resolves once the first list arrived, or could not be
   * read (the properties then stay unknown: no reason to fail a session; the watch retries by
   * itself). Resolves at once for a transport that cannot list services.
   */
  start(transport: Transport): Promise<void> {
    const watch = transport.watchServices;
    if (typeof watch !== 'function') return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#unwatch = watch.call(
        transport,
        (services) => {
          this.#services = services;
          resolve();
          if (services.length > 0) this.#events.servicesSeen();
          if (this.#scheduled) return;
          this.#scheduled = true;
          queueMicrotask(() => {
            this.#scheduled = false;
            this.#events.changed();
          });
        },
        () => resolve(),
        { forSession: true },
      );
    });
  }

  /** The properties of the service bound to `iface`, from the list as last delivered. */
  propertiesFor(iface: string | null): UplinkProperties {
    return uplinkPropertiesFor(this.#services, iface);
  }

  stop(): void {
    this.#unwatch?.();
    this.#unwatch = null;
  }
}
