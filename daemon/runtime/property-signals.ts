/**
 * The property signals of ConnMan's objects (Service and Technology PropertyChanged,
 * ServicesChanged, TechnologyAdded/Removed, Manager PropertyChanged) and the extension's
 * ServiceStatusChanged. The engine says which objects changed; this keeps each object's
 * properties as last signalled and sends only the keys whose values differ.
 */
import { type Bearer, servicePath, technologyPath } from '../../lib/protocol.js';
import type { Effects } from '../core/effects.js';
import type { Engine } from '../core/engine.js';
import { managedServiceProps } from '../core/manage-properties.js';
import type { PropDict } from '../core/properties.js';
import { changedProps, serviceProps, technologyProps } from '../core/properties.js';
import { serviceStatusProps, withObservedNameservers } from '../core/service-traits.js';
import { isConnected, type Service } from '../core/services.js';
import type { BusEvents, Logger } from '../ports.js';

export interface PropertySignalsDeps {
  engine: Engine;
  events: BusEvents;
  /** The Manager's properties now (SessionMode is the runtime's). */
  managerProperties(): PropDict;
  log: Logger;
}

export class PropertySignals {
  readonly #d: PropertySignalsDeps;
  readonly #serviceCache = new Map<string, PropDict>();
  /** Each service's status dict as last signalled (ServiceStatusChanged). */
  readonly #statusCache = new Map<string, PropDict>();
  readonly #techCache = new Map<Bearer, PropDict>();

  constructor(deps: PropertySignalsDeps) {
    this.#d = deps;
  }

  /** Sends the signals one engine result calls for. */
  signal(fx: Effects): void {
    this.#signalServices(fx);
    // Technologies follow the registry and the services only: a session's create, change or
    // destroy touches neither, so it does not rebuild and compare every technology's properties.
    if (
      fx.addedTechnologies.length ||
      fx.removedTechnologies.length ||
      fx.changedTechnologies.size ||
      fx.changedServices.size ||
      fx.removedServices.length
    ) {
      this.#signalTechnologies(fx);
    }
    if (fx.managerChanged.size === 0) return;
    const props = this.#d.managerProperties();
    for (const name of fx.managerChanged) {
      const p = props[name];
      if (p) this.#d.events.managerPropertyChanged(name, p);
    }
  }

  /** A service's ConnMan properties: a managed service's from its provisioning and flags. */
  serviceProps(s: Service): PropDict {
    const m = this.#d.engine.manage;
    if (!m.enabled || !m.isManaged(s))
      return withObservedNameservers(serviceProps(s, isConnected(s.state)), s, m.sectionOf(s));
    const f = m.flags(s.id);
    return managedServiceProps(serviceProps(s, f.favorite, f.autoConnect), m.configView(s));
  }

  #signalServices(fx: Effects): void {
    const { engine, events: ev } = this.#d;
    for (const id of fx.removedServices) {
      this.#serviceCache.delete(id);
      this.#statusCache.delete(id);
    }
    this.#signalStatus(fx);
    const changed: string[] = [];
    for (const id of fx.changedServices) {
      const s = engine.registry.byId(id);
      if (!s) continue;
      const props = this.serviceProps(s);
      const changes = changedProps(this.#serviceCache.get(id), props);
      const isNew = !this.#serviceCache.has(id);
      this.#serviceCache.set(id, props);
      if (isNew || changes.length) changed.push(id);
      for (const [k, p] of changes) ev.servicePropertyChanged(id, k, p);
      const state = changes.find(([k]) => k === 'State');
      if (state) this.#d.log('info', `service ${s.ifname} (${s.id}): ${String(state[1].value)}`);
    }
    if (fx.servicesReordered || changed.length || fx.removedServices.length) {
      const order = engine.services().map((s) => ({
        path: servicePath(s.id),
        props: changed.includes(s.id) ? this.#serviceCache.get(s.id)! : null,
      }));
      ev.servicesChanged(order, fx.removedServices.map(servicePath));
    }
  }

  /** ServiceStatusChanged for the changed services whose status dict really changed. */
  #signalStatus(fx: Effects): void {
    const changed: Array<{ path: string; props: PropDict }> = [];
    for (const id of fx.changedServices) {
      const s = this.#d.engine.registry.byId(id);
      if (!s) continue;
      const props = serviceStatusProps(s);
      const before = this.#statusCache.get(id);
      this.#statusCache.set(id, props);
      if (!before || JSON.stringify(before) !== JSON.stringify(props)) changed.push({ path: servicePath(id), props });
    }
    if (changed.length) this.#d.events.serviceStatusChanged?.(changed);
  }

  #signalTechnologies(fx: Effects): void {
    const ev = this.#d.events;
    for (const t of fx.removedTechnologies) {
      this.#techCache.delete(t);
      ev.technologyRemoved(technologyPath(t));
    }
    for (const t of this.#d.engine.technologies()) {
      const props = technologyProps(t);
      const before = this.#techCache.get(t.type);
      this.#techCache.set(t.type, props);
      if (!before) ev.technologyAdded(technologyPath(t.type), props);
      else for (const [k, p] of changedProps(before, props)) ev.technologyPropertyChanged(technologyPath(t.type), k, p);
    }
  }
}
