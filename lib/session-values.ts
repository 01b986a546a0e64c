/**
 * A session's current values by name (`state`, `interface`, `bearer`, `ipv4`, `ipv6`), each read
 * from its `settings`, and waiting on them (`waitFor`, `updates()`, answered by the session's
 * {@link SessionView}): the layer between the bind helpers ({@link BoundSession}) and
 * {@link Session}, which keeps `settings` current.
 */
import { BoundSession } from './bind/bound-session.js';
import type { WaitOptions } from './deadline.js';
import type { Bearer, SessionState } from './protocol.js';
import type { UpdatesOptions, WaitCondition } from './session-events.js';
import type { SessionView } from './session-view.js';
import type { IPv4Info, IPv6Info, SessionInfo, SessionUpdate } from './settings.js';

/** See the file comment. */
export abstract class SessionValues extends BoundSession {
  /** `disconnected`, `connected` or `online`. */
  get state(): SessionState {
    return this.settings.state;
  }

  /** Interface name of the uplink the session is bound to, or `null`. */
  get interface(): string | null {
    return this.settings.interface;
  }

  /** Bearer of that uplink, or `null`. */
  get bearer(): Bearer | null {
    return this.settings.bearer;
  }

  /** IPv4 configuration of that uplink (`ipv4?.address` is the address to bind to), or `null`. */
  get ipv4(): IPv4Info | null {
    return this.settings.ipv4;
  }

  /** IPv6 configuration of that uplink, or `null`. */
  get ipv6(): IPv6Info | null {
    return this.settings.ipv6;
  }

  /** The session's view (settings, events, waiters), which Session keeps. @internal */
  protected abstract get _view(): SessionView;

  // ------------------------------------------------------------------ waiting

  /**
   * Resolves with the settings once `condition` holds — at once if it already does. Rejects with
   * {@link TimeoutError} after `timeout` ms, {@link AbortError} when `signal` aborts, and
   * {@link SessionClosedError} if the session ends first.
   */
  waitFor(condition: WaitCondition, options?: WaitOptions): Promise<SessionInfo>;
  /** Waits until `predicate(settings)` is true; a type guard narrows the result. */
  waitFor<T extends SessionInfo>(predicate: (info: SessionInfo) => info is T, options?: WaitOptions): Promise<T>;
  /** Waits until `predicate(settings)` is true. */
  waitFor(predicate: (info: SessionInfo) => boolean, options?: WaitOptions): Promise<SessionInfo>;
  waitFor(
    condition: WaitCondition | ((info: SessionInfo) => boolean),
    options: WaitOptions = {},
  ): Promise<SessionInfo> {
    return this._view.waitFor(condition, options);
  }

  /**
   * The session's updates as an async iterator, from now on (read `settings` for the current
   * values). Ends after the session's last update when it is destroyed; throws an
   * {@link AbortError} when `signal` aborts. Each iterator has its own queue.
   */
  updates(options: UpdatesOptions = {}): AsyncIterableIterator<SessionUpdate> {
    return this._view.updates(options);
  }
}
