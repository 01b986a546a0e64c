/**
 * The last N probe outcomes of one uplink, for its loss ratio. Pure.
 */
export class LossWindow {
  readonly #size: number;
  readonly #outcomes: boolean[] = [];
  #failures = 0;

  constructor(size: number) {
    this.#size = size;
  }

  /** Records one probe: `true` when it succeeded. */
  push(ok: boolean): void {
    this.#outcomes.push(ok);
    if (!ok) this.#failures += 1;
    if (this.#outcomes.length > this.#size && this.#outcomes.shift() === false) this.#failures -= 1;
  }

  /** Probes in the window (at most its size). */
  get count(): number {
    return this.#outcomes.length;
  }

  /** Failed probes / probes in the window; 0 before the first probe. */
  get lossRatio(): number {
    return this.#outcomes.length === 0 ? 0 : this.#failures / this.#outcomes.length;
  }
}
