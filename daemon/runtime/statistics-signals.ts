/**
 * Sends the `Statistics` signals clients ask for with `SetStatisticsInterval`: the schedule
 * (daemon/core/statistics-schedule.ts) says who is due, one timer from the Clock port wakes up
 * for the earliest, and one accounting dump per tick serves every subscription due at that tick.
 */

import type { Counters } from '../core/statistics-schedule.js';
import { StatisticsSchedule } from '../core/statistics-schedule.js';
import type { Accounting, Clock } from '../ports.js';

export interface StatisticsSignalsDeps {
  clock: Clock;
  accounting: Accounting;
  /** Sends one `Statistics` signal for the session at `path` to `subscriber`. */
  send(subscriber: string, path: string, counters: Counters): void;
  log(level: 'debug' | 'warn', msg: string): void;
}

const ZERO: Counters = Object.freeze({ rxBytes: 0n, txBytes: 0n, rxPackets: 0n, txPackets: 0n });

export class StatisticsSignals {
  readonly #d: StatisticsSignalsDeps;
  readonly #schedule = new StatisticsSchedule();
  #timer: { cancel(): void } | null = null;
  /** When the armed timer fires (clock ms). */
  #timerAt = 0;
  /** A dump is in flight: the timer is armed again once it is done, so ticks never overlap. */
  #busy = false;
  #stopped = false;

  constructor(deps: StatisticsSignalsDeps) {
    this.#d = deps;
  }

  /**
   * `SetStatisticsInterval(seconds)` by `subscriber` on the session at `path` (whose accounting
   * key is `sessionKey`); ownership is the caller's business. Throws BadStatisticsIntervalError.
   */
  set(path: string, sessionKey: string, subscriber: string, seconds: number): void {
    if (this.#stopped) return;
    const sub = this.#schedule.set(path, sessionKey, subscriber, seconds, this.#d.clock.now());
    this.#d.log(
      'debug',
      sub
        ? `statistics signals for ${path} to ${subscriber} every ${seconds} s`
        : `statistics signals for ${path} to ${subscriber} stopped (requested)`,
    );
    this.#arm();
  }

  /** The session ended. */
  sessionEnded(path: string): void {
    for (const s of this.#schedule.removeSession(path))
      this.#d.log('debug', `statistics signals for ${s.path} to ${s.subscriber} stopped (session ended)`);
    this.#arm();
  }

  /** A client left the bus. */
  clientGone(subscriber: string): void {
    for (const s of this.#schedule.subscriberGone(subscriber))
      this.#d.log('debug', `statistics signals for ${s.path} to ${s.subscriber} stopped (client left)`);
    this.#arm();
  }

  /** Ends everything (daemon shutdown); a dump in flight sends nothing. */
  stop(): void {
    this.#stopped = true;
    this.#schedule.clear();
    this.#disarm();
  }

  /** Number of live subscriptions (for tests). */
  get size(): number {
    return this.#schedule.size;
  }

  /** Points the one timer at the earliest due subscription (none: no timer). */
  #arm(): void {
    if (this.#busy || this.#stopped) return;
    const due = this.#schedule.nextDue();
    if (due === null) {
      this.#disarm();
      return;
    }
    if (this.#timer && this.#timerAt === due) return;
    this.#disarm();
    this.#timerAt = due;
    this.#timer = this.#d.clock.setTimeout(
      () => {
        this.#timer = null;
        void this.#tick();
      },
      Math.max(0, due - this.#d.clock.now()),
    );
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = null;
  }

  async #tick(): Promise<void> {
    const due = this.#schedule.takeDue(this.#d.clock.now());
    if (due.length === 0 || this.#stopped) {
      this.#arm();
      return;
    }
    this.#busy = true;
    try {
      let counters: Map<string, Counters> | null = null;
      try {
        counters = await this.#d.accounting.read([...new Set(due.map((s) => s.sessionKey))]);
      } catch (err) {
        this.#d.log('warn', `statistics signals: cannot read the session counters: ${(err as Error).message}`);
      }
      // Subscriptions replaced or ended during the read get nothing (a replacement has its own first signal due).
      if (counters && !this.#stopped) {
        for (const s of due) {
          if (!this.#schedule.isLive(s)) continue;
          try {
            this.#d.send(s.subscriber, s.path, counters.get(s.sessionKey) ?? ZERO);
          } catch (err) {
            this.#d.log(
              'warn',
              `statistics signal for ${s.path} to ${s.subscriber} not sent: ${(err as Error).message}`,
            );
          }
        }
      }
    } finally {
      this.#busy = false;
      this.#arm();
    }
  }
}
