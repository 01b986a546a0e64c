/**
 * Signal watch: each session's `org.netsession.Session1.Statistics` signals. A watch is a match
 * rule for the session's signals from the daemon plus `SetStatisticsInterval`; its stop function
 * sets the interval to 0 and removes the rule. The daemon sends the signals to this connection only.
 */
import { DaemonUnavailableError } from '../errors.js';
import { NETSESSION_INTERFACE, NETSESSION_METHODS, NETSESSION_SIGNATURES } from '../protocol.js';
import type { SessionStatistics } from '../transport.js';
import type { BusLink, DBusMessage } from './bus-link.js';
import type { DaemonCalls } from './calls.js';
import { decodeStatistics } from './codec.js';
import { deliver } from './deliver.js';

/** One watch: who hears the session's signals, and the match rule that admits them. */
interface StatisticsWatch {
  listener: (statistics: SessionStatistics) => void;
  link: BusLink;
  rule: string;
  /** True once RemoveMatch was sent (or the rule never reached the bus): the bus counts identical rules, so only once. */
  unmatched: boolean;
}

/** The statistics watches of one transport, by session path. */
export class StatisticsWatches {
  readonly #calls: DaemonCalls;
  readonly #busName: string;
  readonly #watches = new Map<string, StatisticsWatch>();

  constructor(calls: DaemonCalls, busName: string) {
    this.#calls = calls;
    this.#busName = busName;
  }

  /** See `Transport.watchStatistics`. */
  async watch(
    link: BusLink,
    path: string,
    seconds: number,
    listener: (statistics: SessionStatistics) => void,
  ): Promise<() => Promise<void>> {
    const owner = link.owner;
    if (owner === null)
      throw new DaemonUnavailableError(
        'no-daemon',
        `${this.#busName} is not on the bus: is netsessiond (or connmand) running?`,
      );
    const S = NETSESSION_METHODS.sessionSignals;
    const rule = `type='signal',sender='${owner}',path='${path}',interface='${NETSESSION_INTERFACE}',member='${S.Statistics}'`;
    const w: StatisticsWatch = { listener, link, rule, unmatched: true };
    // Registered before the call: the first signal may be read in the same tick as the reply.
    this.#watches.set(path, w);
    try {
      await link.addMatch(rule);
      w.unmatched = false;
      await this.#calls.setStatisticsInterval(link, path, seconds);
    } catch (err) {
      if (this.#watches.get(path) === w) this.#watches.delete(path);
      void this.#removeMatch(w);
      throw err;
    }
    return () => this.#unwatch(path, w);
  }

  /** The session ended: its watch goes (the daemon stopped the signals itself). */
  drop(path: string): void {
    const w = this.#watches.get(path);
    if (!w) return;
    this.#watches.delete(path);
    void this.#removeMatch(w);
  }

  /** The daemon or the bus went: every watch goes. */
  dropAll(): void {
    for (const path of [...this.#watches.keys()]) this.drop(path);
  }

  /** The transport closes: its match rules go with the connection. */
  clear(): void {
    this.#watches.clear();
  }

  /** A session's `Statistics(a{sv})`; false for any other signal. */
  onSignal(msg: DBusMessage): boolean {
    if (msg.interface !== NETSESSION_INTERFACE || msg.member !== NETSESSION_METHODS.sessionSignals.Statistics)
      return false;
    const w = msg.signature === NETSESSION_SIGNATURES.Statistics ? this.#watches.get(msg.path) : undefined;
    if (w) deliver(() => w.listener(decodeStatistics(msg.body[0])));
    return true;
  }

  /** The stop function of a watch: interval 0 if it is still the path's watch, and its match rule removed. Never rejects. */
  async #unwatch(path: string, w: StatisticsWatch): Promise<void> {
    const current = this.#watches.get(path) === w;
    if (current) this.#watches.delete(path);
    if (!w.link.open) return;
    // The session may have ended meanwhile: its signals ended with it.
    const stop = current ? this.#calls.setStatisticsInterval(w.link, path, 0).catch(() => undefined) : undefined;
    await Promise.all([stop, this.#removeMatch(w)]);
  }

  #removeMatch(w: StatisticsWatch): Promise<void> {
    if (w.unmatched || !w.link.open) return Promise.resolve();
    w.unmatched = true;
    return w.link.removeMatch(w.rule).catch(() => undefined);
  }
}
