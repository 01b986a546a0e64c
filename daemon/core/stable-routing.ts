/**
 * Routing states whose unchanged parts stay the same objects. The core builds the routing state
 * afresh whenever a service or a SourceIPRule session changed; handing back the last state's equal
 * services and rules lets the routing adapter tell what changed by identity, so a SourceIPRule
 * session's create costs it one new rule, not a comparison of every service and rule. Pure.
 */
import type { RoutingState } from './kernel-state-types.js';
import { memoByObject } from './object-memo.js';

/**
 * `JSON.stringify(part)`, once per object (parts are never modified once built): routingOf hands
 * back its own objects for what did not change and this class the last state's, so the core and
 * the routing adapter, which compares parts by their JSON too, serialise each part once between them.
 */
export const partJson: (part: object) => string = memoByObject((part: object) => JSON.stringify(part));

export class StableRouting {
  /** The last state's services and rules by their JSON. */
  #parts = new Map<string, object>();
  /**
   * `built`, its services and rules replaced by the last state's equal ones (same JSON); `last`
   * itself when nothing differs.
   */
  settle(built: RoutingState, last: RoutingState | null): RoutingState {
    const parts = new Map<string, object>();
    const services = built.services.map((p) => this.#same(p, parts));
    const rules = built.rules.map((p) => this.#same(p, parts));
    this.#parts = parts;
    if (last && sameItems(last.services, services) && sameItems(last.rules, rules)) return last;
    return { services, rules };
  }

  /** Forgets the last state (the next one is all new). */
  reset(): void {
    this.#parts = new Map();
  }

  #same<T extends object>(part: T, parts: Map<string, object>): T {
    const text = partJson(part);
    const same = (this.#parts.get(text) as T | undefined) ?? part;
    parts.set(text, same);
    return same;
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
