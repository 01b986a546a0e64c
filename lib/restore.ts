/**
 * Behind persistent sessions (`createSession({ persistent: true })`): after the daemon was lost,
 * tries to make the session again until it succeeds, with a bounded backoff (50 ms doubling to
 * `maxDelay`), one attempt at a time, and at once when something suggests the daemon is back
 * (`poke`: the service list came back). Cancelled by the session's destroy() or its signal.
 *
 * Internal: not re-exported from the package.
 */

/** What one attempt says: done (stop), or try again later. */
export type AttemptOutcome = 'done' | 'retry';

/** The first delay between attempts, doubled after each failure up to the maximum. */
export const FIRST_RETRY_DELAY = 50;
/** Default maximum delay between attempts: the daemon is usually back within a second of its restart. */
export const DEFAULT_MAX_RETRY_DELAY = 1_000;

/** The delay before attempt `n` (0-based) after `n` failures. Pure. */
export function retryDelay(failures: number, maxDelay: number): number {
  return Math.min(maxDelay, FIRST_RETRY_DELAY * 2 ** Math.min(failures, 20));
}

export class Restorer {
  readonly #attempt: () => Promise<AttemptOutcome>;
  readonly #maxDelay: number;
  #failures = 0;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #pokedWhileRunning = false;
  #over = false;

  constructor(attempt: () => Promise<AttemptOutcome>, maxDelay: number) {
    this.#attempt = attempt;
    this.#maxDelay = maxDelay;
  }

  /** Starts trying (the first attempt right away). */
  start(): void {
    this.#run();
  }

  /** Something suggests the daemon is back: try now rather than at the next delay. */
  poke(): void {
    if (this.#over) return;
    if (this.#running) {
      this.#pokedWhileRunning = true;
      return;
    }
    this.#run();
  }

  /** Stops for good; an attempt under way finishes, its outcome is ignored. */
  cancel(): void {
    this.#over = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  get active(): boolean {
    return !this.#over;
  }

  #run(): void {
    if (this.#over) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#running = true;
    this.#pokedWhileRunning = false;
    this.#attempt().then(
      (outcome) => this.#after(outcome),
      () => this.#after('retry'),
    );
  }

  #after(outcome: AttemptOutcome): void {
    this.#running = false;
    if (this.#over) return;
    if (outcome === 'done') {
      this.#over = true;
      return;
    }
    if (this.#pokedWhileRunning) {
      this.#run();
      return;
    }
    const delay = retryDelay(this.#failures++, this.#maxDelay);
    // The session keeps the process alive while it waits for the daemon, as a live one does.
    this.#timer = setTimeout(() => this.#run(), delay);
  }
}
