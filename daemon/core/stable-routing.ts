/**
 * Routing states whose unchanged parts stay the same objects. The core builds the routing state
 * afresh whenever a service or a SourceIPRule session changed; handing back the last state's equal
 * services and rules lets the routing adapter tell what changed by identity, so a SourceIPRule
 * session's create costs it one new rule, not a comparison of every service and rule. Pure.
 */
import type { RoutingState } from './kernel-state-types.js';

export class StableRouting {
  /** The last state's services and rules by their JSON. */
  #parts = new Map<string, object>();
  /**
   * The JSON of every part the last build handed in or got back: a builder that reuses its own
   * objects for what did not change (routingOf's cache) is then never serialised again.
   */
  #json = new Map<object, string>();

  /**
   * `built`, its services and rules replaced by the last state's equal ones (same JSON); `last`
   * itself when nothing differs.
   */
  settle(built: RoutingState, last: RoutingState | null): RoutingState {
    const parts = new Map<string, object>();
    const json = new Map<object, string>();
    const services = built.services.map((p) => this.#same(p, parts, json));
    const rules = built.rules.map((p) => this.#same(p, parts, json));
    this.#parts = parts;
    this.#json = json;
    if (last && sameItems(last.services, services) && sameItems(last.rules, rules)) return last;
    return { services, rules };
  }

  /** Forgets the last state (the next one is all new). */
  reset(): void {
    this.#parts = new Map();
    this.#json = new Map();
  }

  #same<T extends object>(part: T, parts: Map<string, object>, json: Map<object, string>): T {
    const text = this.#json.get(part) ?? JSON.stringify(part);
    const same = (this.#parts.get(text) as T | undefined) ?? part;
    parts.set(text, same);
    json.set(part, text);
    json.set(same, text);
    return same;
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
