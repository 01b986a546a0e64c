/**
 * Holds back Updates for a notifier while a CreateSession for it is being answered.
 *
 * ConnMan's clients rely on the CreateSession reply arriving before the first Update (they learn
 * the session path from the reply). The runtime already defers the first Update past the reply,
 * but a slower reply path (a credentials round trip, a future async policy step) must not be able
 * to reorder them, so the adapter enforces it: Updates for an (owner, notifier) with a create in
 * flight are queued and written right after that create's reply (or error) — never dropped,
 * because a failed create (AlreadyExists) can share its notifier with a live session.
 */
export class UpdateGate<M> {
  readonly #held = new Map<string, { creates: number; queued: M[] }>();

  static key(owner: string, notifier: string): string {
    return `${owner} ${notifier}`;
  }

  /** A CreateSession for (owner, notifier) started. */
  hold(owner: string, notifier: string): string {
    const key = UpdateGate.key(owner, notifier);
    const entry = this.#held.get(key);
    if (entry) entry.creates += 1;
    else this.#held.set(key, { creates: 1, queued: [] });
    return key;
  }

  /** Queues `message` if its notifier is held; false means: send it now. */
  offer(owner: string, notifier: string, message: M): boolean {
    if (this.#held.size === 0) return false;
    const entry = this.#held.get(UpdateGate.key(owner, notifier));
    if (!entry) return false;
    entry.queued.push(message);
    return true;
  }

  /** The create's reply went out: returns what to send now, in order. */
  release(key: string): M[] {
    const entry = this.#held.get(key);
    if (!entry) return [];
    const out = entry.queued;
    entry.queued = [];
    entry.creates -= 1;
    if (entry.creates <= 0) this.#held.delete(key);
    return out;
  }

  get size(): number {
    return this.#held.size;
  }
}
