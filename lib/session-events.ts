/**
 * What a {@link Session} tells and takes besides its methods: its events with their arguments,
 * the named conditions of `waitFor` (with their tests), and the options of `updates()` and of a
 * persistent session. Apart from session.ts so that the bind helpers' base class can name them.
 */
import type { NetsessionError, SessionClosedReason } from './errors.js';
import type { SessionState } from './protocol.js';
import type { SessionInfo, SessionUpdate } from './settings.js';
import type { SessionStatistics } from './transport.js';

/** Events of a {@link Session}, with their arguments. Every property is already current when they fire. */
export interface SessionEvents {
  /** The keys an Update changed, camelCase (only keys whose value really changed). */
  update: [changes: SessionUpdate];
  /** `state` changed. */
  state: [state: SessionState, previous: SessionState];
  /** `state` became `online`. */
  online: [];
  /** `state` was `online` and no longer is. */
  offline: [];
  /** The session moved to another interface (`null`: it has none now). Sockets bound to the old one should be recreated. */
  interface: [name: string | null, previous: string | null];
  /** The uplink's DNS servers changed (another uplink, or new servers on it). */
  nameservers: [nameservers: readonly string[]];
  /** Whether the uplink is metered changed (`null`: the daemon does not say, or no uplink). */
  metered: [metered: boolean | null];
  /** Whether the uplink is roaming changed. */
  roaming: [roaming: boolean | null];
  /** A captive portal appeared on the uplink (`true`, with its URL when known) or was lifted. */
  captivePortal: [captivePortal: boolean | null, url: string | null];
  /**
   * The session ended. `error` is `null` when `destroy()` was called; a {@link SessionClosedError}
   * when the daemon released it or forgot it; a {@link DaemonUnavailableError} when the daemon or
   * the bus went away. `reason` says which, in {@link SessionClosedError}'s terms.
   */
  destroyed: [error: NetsessionError | null, reason: SessionClosedReason];
  /**
   * A persistent session (`createSession({ persistent: true })`) lost its daemon (it left the
   * bus, or released the session on shutdown): the uplink values are cleared (with their events),
   * and the session waits for the daemon to return. Fires once per loss.
   */
  'daemon-lost': [error: NetsessionError];
  /** A persistent session was made again on the returned daemon; its values are current (their events came first). */
  'daemon-restored': [];
  /**
   * The session's traffic counters, every {@link Session.setStatisticsInterval} (default 1 s)
   * while someone listens: the first listener asks the daemon for them (netsessiond's
   * `SetStatisticsInterval`), removing the last one stops them. Without the daemon's
   * `StatisticsSignal` capability (a real connmand, or netsessiond without its datapath) nothing
   * fires and `error` reports an {@link ExtensionNotSupportedError}.
   */
  statistics: [statistics: SessionStatistics];
  /**
   * The session was lost because the daemon or the bus went away, or the `statistics` event
   * cannot be served (the daemon lacks it, or refused). Unlike a plain EventEmitter, a session
   * emits `error` only when someone listens: `destroyed` reports the same loss.
   */
  error: [error: NetsessionError];
}

/** Named conditions for {@link Session.waitFor}. */
export type WaitCondition =
  /** `state` is `online`. */
  | 'online'
  /** `state` is `connected` or `online` (the session has an uplink). */
  | 'connected'
  /** `state` is `disconnected`. */
  | 'disconnected';

/** Conditions that need an uplink: they cannot hold while the policy allows no bearer. */
export const NEEDS_UPLINK: ReadonlySet<string> = new Set(['online', 'connected']);

export const CONDITIONS: Record<WaitCondition, (i: SessionInfo) => boolean> = {
  online: (i) => i.state === 'online',
  connected: (i) => i.state !== 'disconnected',
  disconnected: (i) => i.state === 'disconnected',
};

/** How a persistent session waits for a lost daemon (`createSession({ persistent })`). */
export interface PersistentOptions {
  /** Aborting it stops the waiting: a wait under way ends the session, as without `persistent`. */
  signal?: AbortSignal;
  /** The longest pause between two attempts to make the session again, in ms (default 1000; the first is 50 ms, doubling). */
  maxRetryDelay?: number;
}

/** Options of {@link Session.updates}. */
export interface UpdatesOptions {
  /** Aborting it makes the iterator throw an {@link AbortError}. */
  signal?: AbortSignal;
}
