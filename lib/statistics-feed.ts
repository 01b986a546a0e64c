/**
 * Behind the Session's `statistics` event: one watch of the daemon's `Statistics` signals while
 * someone listens, at the interval asked for. Starts and stops run one at a time, each acting on
 * what is wanted when it runs, so a burst of listener changes costs at most one stop and one start.
 *
 * Internal: not re-exported from the package.
 */
import type { SessionStatistics } from './transport.js';

/** What the feed needs from its session. */
export interface StatisticsFeedDeps {
  /** The interval wanted now, in seconds; 0 when nobody listens (or the session ended). */
  wanted(): number;
  /** Starts a watch at `seconds`; resolves with its stop function (which never rejects). */
  subscribe(seconds: number, listener: (statistics: SessionStatistics) => void): Promise<() => Promise<void>>;
  /** One signal of the current watch. */
  deliver(statistics: SessionStatistics): void;
  /** Starting a watch failed; it is not retried until what is wanted changes. */
  failed(error: unknown): void;
}

interface Watch {
  readonly seconds: number;
  stop: (() => Promise<void>) | null;
}

/** Rethrows out of band, as a throwing listener of any Node emitter would end up. */
function raise(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

export class StatisticsFeed {
  readonly #d: StatisticsFeedDeps;
  #current: Watch | null = null;
  /** The interval whose start failed; null: none did. */
  #failedAt: number | null = null;
  #queue: Promise<void> = Promise.resolve();

  constructor(deps: StatisticsFeedDeps) {
    this.#d = deps;
  }

  /** What is wanted may have changed: brings the watch in line, after the steps already queued. */
  sync(): void {
    this.#queue = this.#queue.then(() => this.#step());
  }

  /** The listeners all left: a start that failed may be tried again when they come back. */
  forgetFailure(): void {
    this.#failedAt = null;
  }

  /** Resolves once every step queued so far has run. */
  settled(): Promise<void> {
    return this.#queue;
  }

  async #step(): Promise<void> {
    const want = this.#d.wanted();
    if (want !== this.#failedAt) this.#failedAt = null;
    if (want === (this.#current?.seconds ?? 0) || want === this.#failedAt) return;
    const old = this.#current;
    this.#current = null;
    // One watch per session on the daemon's side: the old one stops before another starts.
    if (old?.stop) await old.stop().catch(() => undefined);
    if (want === 0) return;
    const watch: Watch = { seconds: want, stop: null };
    // Current before the call: the first signal may arrive before the call resolves.
    this.#current = watch;
    try {
      watch.stop = await this.#d.subscribe(want, (statistics) => {
        if (this.#current === watch) this.#d.deliver(statistics);
      });
    } catch (err) {
      if (this.#current === watch) this.#current = null;
      this.#failedAt = want;
      try {
        this.#d.failed(err);
      } catch (thrown) {
        raise(thrown);
      }
    }
  }
}
