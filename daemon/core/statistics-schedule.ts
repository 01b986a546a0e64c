/**
 * Statistics signals (`org.netsession.Session1.SetStatisticsInterval` and its `Statistics`
 * signal): who asked for which session's counters, how often, and which requests are due.
 *
 * Each subscriber (a bus client: the session's owner, or root) has its own interval per session
 * and the signals go to it alone: a session's traffic figures are not broadcast to the bus, and
 * one client's interval never changes another's. The first signal is due at once (the runtime
 * sends it right after the reply); later ones fall on multiples of the interval on the clock, so
 * subscriptions with equal (or dividing) intervals fall due at the same instant and share one
 * accounting dump, however their requests were spread in time.
 *
 * Pure: the runtime passes the time, reads the counters and sends the signals.
 */
import { STATISTICS_INTERVAL_LIMITS, STATISTICS_KEYS } from '../../lib/protocol.js';
import { BadStatisticsIntervalError } from './errors.js';
import type { PropDict } from './properties.js';

/** Byte and packet counts of one session, both directions. */
export interface Counters {
  rxBytes: bigint;
  txBytes: bigint;
  rxPackets: bigint;
  txPackets: bigint;
}

/**
 * Subscriptions due within this many ms of a tick are served by it: timers fire a little late
 * (and the wall clock may step), and sharing the dump matters more than a few ms of accuracy.
 */
export const DUE_SLACK_MS = 20;

/** One subscriber's request for one session's statistics. */
export interface StatisticsSubscription {
  readonly path: string;
  /** The session's kernel-safe key (what the accounting dump is keyed by). */
  readonly sessionKey: string;
  /** Unique bus name the signals go to. */
  readonly subscriber: string;
  readonly intervalMs: number;
  /** Clock ms at which the next signal is due. */
  due: number;
}

/** The dict of GetStatistics and of the `Statistics` signal: every counter as a `t`. */
export function statisticsProps(c: Counters): PropDict {
  return {
    [STATISTICS_KEYS.rxBytes]: { signature: 't', value: c.rxBytes },
    [STATISTICS_KEYS.txBytes]: { signature: 't', value: c.txBytes },
    [STATISTICS_KEYS.rxPackets]: { signature: 't', value: c.rxPackets },
    [STATISTICS_KEYS.txPackets]: { signature: 't', value: c.txPackets },
  };
}

/** Throws {@link BadStatisticsIntervalError} unless `seconds` is 0 or a whole number within the limits. */
export function checkStatisticsInterval(seconds: number): void {
  const { min, max } = STATISTICS_INTERVAL_LIMITS;
  if (seconds === 0) return;
  if (!Number.isInteger(seconds) || seconds < min || seconds > max)
    throw new BadStatisticsIntervalError(seconds, min, max);
}

/** The first multiple of `intervalMs` at least half an interval after `t`: steady ticks land on the grid. */
function nextGridPoint(t: number, intervalMs: number): number {
  return Math.ceil((t + intervalMs / 2) / intervalMs) * intervalMs;
}

/** Every live subscription, keyed by session path and subscriber. */
export class StatisticsSchedule {
  readonly #subs = new Map<string, StatisticsSubscription>();

  /**
   * `SetStatisticsInterval(seconds)` from `subscriber`: replaces its subscription to `path` (the
   * first signal is due at `now`), or ends it for 0. Returns the new subscription, or null when
   * none remains. Throws {@link BadStatisticsIntervalError}.
   */
  set(
    path: string,
    sessionKey: string,
    subscriber: string,
    seconds: number,
    now: number,
  ): StatisticsSubscription | null {
    checkStatisticsInterval(seconds);
    const key = `${path} ${subscriber}`;
    this.#subs.delete(key);
    if (seconds === 0) return null;
    const sub: StatisticsSubscription = { path, sessionKey, subscriber, intervalMs: seconds * 1000, due: now };
    this.#subs.set(key, sub);
    return sub;
  }

  /** The session ended: every subscription to it ends. Returns those that did. */
  removeSession(path: string): StatisticsSubscription[] {
    return this.#removeWhere((s) => s.path === path);
  }

  /** A client left the bus: its subscriptions end. Returns those that did. */
  subscriberGone(subscriber: string): StatisticsSubscription[] {
    return this.#removeWhere((s) => s.subscriber === subscriber);
  }

  /** False once `sub` was replaced or ended. */
  isLive(sub: StatisticsSubscription): boolean {
    return this.#subs.get(`${sub.path} ${sub.subscriber}`) === sub;
  }

  /** When the earliest subscription is due, or null when there is none. */
  nextDue(): number | null {
    let first: number | null = null;
    for (const s of this.#subs.values()) if (first === null || s.due < first) first = s.due;
    return first;
  }

  /**
   * The subscriptions due at `now` (within {@link DUE_SLACK_MS}); each one's next due time moves
   * on to its next grid point.
   */
  takeDue(now: number): StatisticsSubscription[] {
    const out: StatisticsSubscription[] = [];
    for (const s of this.#subs.values()) {
      if (s.due > now + DUE_SLACK_MS) continue;
      out.push(s);
      s.due = nextGridPoint(Math.max(now, s.due), s.intervalMs);
    }
    return out;
  }

  /** Ends every subscription. */
  clear(): void {
    this.#subs.clear();
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.#subs.size;
  }

  #removeWhere(pred: (s: StatisticsSubscription) => boolean): StatisticsSubscription[] {
    const gone: StatisticsSubscription[] = [];
    for (const [k, s] of this.#subs) {
      if (!pred(s)) continue;
      this.#subs.delete(k);
      gone.push(s);
    }
    return gone;
  }
}
