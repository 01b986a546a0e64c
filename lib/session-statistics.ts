/**
 * A {@link Session}'s `statistics` event: the first listener asks the daemon for the counters
 * (netsessiond's `SetStatisticsInterval`), removing the last one stops them, at the interval the
 * app set. The session's `newListener`/`removeListener` events drive it; a {@link StatisticsFeed}
 * runs the starts and stops one at a time.
 */
import type { EventEmitter } from 'node:events';
import { InvalidOptionError, type NetsessionError } from './errors.js';
import { STATISTICS_INTERVAL_LIMITS } from './protocol.js';
import { StatisticsFeed } from './statistics-feed.js';
import type { SessionStatistics } from './transport.js';

/** What the event needs of its session. */
export interface StatisticsEventHost {
  /** The session itself, whose listeners count. */
  readonly emitter: EventEmitter;
  /** True once the session is ending. */
  ending(): boolean;
  /** True while the session lives on a daemon (a persistent one may be waiting for it). */
  attached(): boolean;
  /** Starts the daemon's signals at `seconds`; resolves with their stop function. */
  watch(seconds: number, listener: (statistics: SessionStatistics) => void): Promise<() => Promise<void>>;
}

/** See the file comment. */
export class StatisticsEvent {
  readonly #host: StatisticsEventHost;
  /** Seconds between `statistics` events. */
  #interval = 1;
  readonly #feed: StatisticsFeed;

  constructor(host: StatisticsEventHost) {
    this.#host = host;
    const emitter = host.emitter;
    this.#feed = new StatisticsFeed({
      wanted: () =>
        host.ending() || !host.attached() || emitter.listenerCount('statistics') === 0 ? 0 : this.#interval,
      subscribe: (seconds, listener) => host.watch(seconds, listener),
      deliver: (statistics) => {
        if (!host.ending()) emitter.emit('statistics', statistics);
      },
      failed: (err) => {
        // An ending session has announced its end already.
        if (!host.ending() && emitter.listenerCount('error') > 0) emitter.emit('error', err as NetsessionError);
      },
    });
    this.follow();
  }

  /** What is wanted may have changed (a new handle, the session ended, listeners removed): act on it. */
  sync(): void {
    this.#feed.sync();
  }

  /** See `Session.setStatisticsInterval`. */
  setInterval(ms: number): void {
    const { min, max } = STATISTICS_INTERVAL_LIMITS;
    if (typeof ms !== 'number' || !Number.isInteger(ms / 1000) || ms < min * 1000 || ms > max * 1000) {
      throw new InvalidOptionError(
        'interval',
        `must be a whole number of seconds from ${min * 1000} to ${max * 1000} ms, got ${String(ms)}`,
      );
    }
    if (ms / 1000 === this.#interval) return;
    this.#interval = ms / 1000;
    this.#feed.sync();
  }

  /** Installs the listener hook (once: removeAllListeners() calls itself per event, then wipes everything). */
  follow(): void {
    const emitter = this.#host.emitter;
    for (const event of ['newListener', 'removeListener'] as const) {
      if (!emitter.listeners(event).includes(this.#listenersChanged)) emitter.on(event, this.#listenersChanged);
    }
  }

  /** The first `statistics` listener starts the daemon's signals, the last one's removal stops them. */
  readonly #listenersChanged = (event: string | symbol): void => {
    if (event !== 'statistics') return;
    if (this.#host.emitter.listenerCount('statistics') === 0) this.#feed.forgetFailure();
    // Steps run after this tick, so `newListener` (fired before the add) sees the new count.
    this.#feed.sync();
  };
}
