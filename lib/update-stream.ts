/**
 * The async iterator behind `session.updates()`: a queue of updates that a `for await` loop
 * drains. Unbounded on purpose — updates are small and rare (link events), and dropping one
 * would leave the reader with a wrong picture.
 */
import { abortError } from './deadline.js';
import type { SessionUpdate } from './settings.js';

/** One reader's queue of updates. */
export class UpdateStream implements AsyncIterableIterator<SessionUpdate> {
  readonly #queue: SessionUpdate[] = [];
  #waiter: { resolve(r: IteratorResult<SessionUpdate>): void; reject(err: unknown): void } | null = null;
  #ended = false;
  #error: unknown = undefined;
  readonly #detach: () => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.fail(abortError(this.#signal!, 'updates()'));

  /** `detach` runs once when the stream ends, whichever way (the session forgets the stream). */
  constructor(detach: () => void, signal?: AbortSignal) {
    this.#detach = detach;
    this.#signal = signal;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** True once the stream ended (nothing more will be queued). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Queues one update (ignored once the stream ended). */
  push(update: SessionUpdate): void {
    if (this.#ended) return;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w.resolve({ value: update, done: false });
    } else this.#queue.push(update);
  }

  /** Ends the stream after what is queued (the session was destroyed). */
  end(): void {
    if (this.#finish() && this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** Ends the stream now: the next `next()` rejects with `err`, then the stream is done. */
  fail(err: unknown): void {
    if (!this.#finish()) return;
    this.#queue.length = 0;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = null;
      w.reject(err);
    } else this.#error = err;
  }

  next(): Promise<IteratorResult<SessionUpdate>> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve({ value: queued, done: false });
    if (this.#error !== undefined) {
      const err = this.#error;
      this.#error = undefined;
      return Promise.reject(err);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Called by `break`/`return` in a `for await` loop: stops listening. */
  return(): Promise<IteratorResult<SessionUpdate>> {
    this.#queue.length = 0;
    this.#error = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Marks the stream ended; false if it already was. */
  #finish(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#detach();
    return true;
  }
}
