/**
 * Keeps a source rule (`from ADDR lookup T`) in the applied routing state for a while after the
 * desired state dropped it, so sequential SourceIPRule sessions on one service do not add and
 * delete the same two kernel rules each time (measured in docs/architecture.md, "Routing").
 *
 * Why that is safe: a source rule only steers sockets bound to the service's own address into
 * the service's own table, which is where such a packet must leave anyway (through any other
 * uplink it is dropped as spoofed). A lingering rule goes at once when its table goes (the
 * service disconnected), and otherwise when the linger expires; the expiry asks for a reconcile.
 */

import type { PolicyRule, RoutingState } from '../core/kernel-state-types.js';

/** How long a source rule outlives the last session that wanted it. */
export const SOURCE_RULE_LINGER_MS = 2000;

type SourceRule = Extract<PolicyRule, { kind: 'source' }>;

const keyOf = (r: SourceRule): string => `${r.family} ${r.priority} ${r.src}/${r.srcLen} ${r.table}`;

export class SourceRuleLinger {
  readonly #ms: number;
  readonly #expired: () => void;
  /** The source rules of the routing state returned last (wanted and lingering). */
  #applied = new Map<string, SourceRule>();
  #lingering = new Map<string, { rule: SourceRule; until: number }>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Infinity;

  /** `expired` is called when the earliest lingering rule is due (the caller reconciles then). */
  constructor(
    ms: number,
    expired: () => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#ms = ms;
    this.#expired = expired;
  }

  /** Rules lingering now (for tests and logs). */
  get lingering(): number {
    return this.#lingering.size;
  }

  /** `desired` plus the source rules that still linger; `desired` itself when none do. */
  apply(desired: RoutingState): RoutingState {
    if (this.#ms <= 0) return desired;
    const now = this.now();
    const wanted = new Map<string, SourceRule>();
    for (const r of desired.rules) if (r.kind === 'source') wanted.set(keyOf(r), r);
    const tables = new Set(desired.services.map((s) => s.table));
    for (const [k, r] of this.#applied)
      if (!wanted.has(k) && !this.#lingering.has(k)) this.#lingering.set(k, { rule: r, until: now + this.#ms });
    for (const [k, l] of this.#lingering)
      if (wanted.has(k) || !tables.has(l.rule.table) || l.until <= now) this.#lingering.delete(k);
    this.#applied = wanted;
    if (this.#lingering.size === 0) {
      this.#clearTimer();
      return desired;
    }
    let next = Infinity;
    for (const [k, l] of this.#lingering) {
      this.#applied.set(k, l.rule);
      next = Math.min(next, l.until);
    }
    this.#schedule(next, now);
    return {
      services: desired.services,
      rules: [...desired.rules, ...[...this.#lingering.values()].map((l) => l.rule)],
    };
  }

  /** No more expiries (the daemon is stopping; its clear() removes every rule). */
  stop(): void {
    this.#clearTimer();
    this.#lingering.clear();
    this.#applied.clear();
  }

  #schedule(at: number, now: number): void {
    if (this.#timer && this.#timerAt <= at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        this.#timerAt = Infinity;
        this.#expired();
      },
      Math.max(0, at - now) + 1,
    );
    // A lingering rule is no reason to keep the process alive.
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
  }
}
