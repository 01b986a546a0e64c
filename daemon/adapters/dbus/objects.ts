/**
 * Which objects exist on the bus and which interfaces each has. Objects are just paths in sets
 * (10,000 sessions cost 10,000 strings), all sharing the same few interface tables.
 */
import { PATHS } from '../../../lib/protocol.js';
import type { InterfaceSpec } from './interface-spec.js';

/** The interface tables per kind of object. */
export interface ObjectKinds {
  manager: readonly InterfaceSpec[];
  service: readonly InterfaceSpec[];
  technology: readonly InterfaceSpec[];
  session: readonly InterfaceSpec[];
}

/** The live object paths. */
export class ObjectTable {
  readonly sessions = new Set<string>();
  readonly services = new Set<string>();
  readonly technologies = new Set<string>();
  #kinds: ObjectKinds | null = null;

  /** Sets the interface tables (they need the adapter's context, which needs this table). */
  setKinds(kinds: ObjectKinds): void {
    this.#kinds = kinds;
  }

  /** The interfaces of the object at `path`, or null when nothing is exported there. */
  interfacesAt(path: string): readonly InterfaceSpec[] | null {
    const k = this.#kinds;
    if (!k) return null;
    if (path === PATHS.manager) return k.manager;
    if (this.sessions.has(path)) return k.session;
    if (this.services.has(path)) return k.service;
    if (this.technologies.has(path)) return k.technology;
    return null;
  }

  /** Every exported path (for the child nodes in introspection). */
  *paths(): Iterable<string> {
    yield PATHS.manager;
    yield* this.services;
    yield* this.technologies;
    yield* this.sessions;
  }
}

/** `/net/connman/service/ethernet_x` -> `ethernet_x` (ConnMan's ids are the last path element). */
export function lastElement(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
