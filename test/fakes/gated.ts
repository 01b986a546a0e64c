/**
 * A kernel port (Routing or Firewall) whose applies finish only when the test says so: for the
 * runtime's ordering rules (an Update that must wait for the kernel, coalesced reconciles).
 */
export class GatedPort<S> {
  applies: S[] = [];
  /** While true, applies finish at once (start-up); the tests then gate them. */
  auto = true;
  #open: Array<() => void> = [];
  apply(desired: S): Promise<void> {
    this.applies.push(desired);
    if (this.auto) return Promise.resolve();
    return new Promise((resolve) => this.#open.push(resolve));
  }
  async clear(): Promise<void> {}
  finishAll(): void {
    for (const r of this.#open.splice(0)) r();
  }
}
