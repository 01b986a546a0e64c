/**
 * The seam between {@link Session} and the daemon (undici's Dispatcher plays this role there).
 * A transport speaks ConnMan's terms — settings keys and values as on the wire, one
 * `Notification` per session — and nothing else: camelCase, validation, events and waiting all
 * live above it, in the session. {@link DBusTransport} talks to netsessiond or connmand over the
 * system bus; {@link MockTransport} lets tests script the daemon.
 *
 * A third-party transport implements {@link SessionTransport} (three methods: what every session
 * needs); {@link SessionExtensions} (netsessiond's per-session extensions) and
 * {@link ManagerTransport} (services, technologies, the Manager) are optional, each method on
 * its own, and what needs a missing one says so.
 *
 * @packageDocumentation
 */
import type { BearersNotAllowedError, ExtensionNotSupportedError, NetsessionError } from './errors.js';
import type { ManagerTransport } from './manager-transport.js';
import type { Bearer, ConnectionType, RequestKey, SessionSettings, STATISTICS_INTERVAL_LIMITS } from './protocol.js';

/** Settings for CreateSession (and values for Change), keyed and typed as ConnMan's wire format. */
export interface SessionRequest {
  AllowedBearers?: Array<Bearer | '*'>;
  ConnectionType?: ConnectionType;
  AllowedInterface?: string;
  SourceIPRule?: boolean;
  ContextIdentifier?: string;
  /** netsessiond's extension (capability `AvoidMetered`); never sent to a daemon without it. */
  AvoidMetered?: boolean;
}

/** Per-session traffic counters (the `org.netsession.Session1.GetStatistics` extension). */
export interface SessionStatistics {
  /** Bytes received by the session's traffic. */
  rxBytes: bigint;
  /** Bytes sent by the session's traffic. */
  txBytes: bigint;
  /** Packets received. */
  rxPackets: bigint;
  /** Packets sent. */
  txPackets: bigint;
}

/**
 * The client side of ConnMan's `net.connman.Notification`, as a transport delivers it to one
 * session. A transport may call `update` before `createSession` has resolved (the first Update
 * can be read off the bus in the same tick as the reply). After `release` or `lost`, or once
 * `destroy` was called on the handle, it calls nothing more.
 */
export interface SessionNotifier {
  /** `Notification.Update`: the keys the daemon sent — all 11 in the first one, the changed ones later. */
  update(settings: Partial<SessionSettings>): void;
  /** `Notification.Release`: the daemon ended the session (connmand and netsessiond do this on shutdown). */
  release(): void;
  /** The session can no longer be reached: the daemon left the bus, the bus closed, or the transport was closed. */
  lost(error: NetsessionError): void;
}

/** One live session as the transport sees it: its object path and `net.connman.Session`'s methods. */
export interface TransportSession {
  /** The session's object path on the daemon (`/sessions/...`). */
  readonly path: string;
  /** `Session.Change(key, value)`: one setting. Updates it causes are delivered before it resolves (ConnMan's order). */
  change<K extends RequestKey>(key: K, value: NonNullable<SessionRequest[K]>): Promise<void>;
  /** `Session.Connect`. */
  connect(): Promise<void>;
  /** `Session.Disconnect`. */
  disconnect(): Promise<void>;
  /** `Session.Destroy`. The notifier stops at once, whatever the outcome. */
  destroy(): Promise<void>;
}

/**
 * The session minimum: what a transport must do for {@link createSession} and every
 * {@link Session}. Errors must be {@link NetsessionError}s.
 */
export interface SessionTransport {
  /**
   * `Manager.CreateSession(settings, notifier)`: resolves with the session once the daemon
   * replied. `notifier` receives the session's Updates from then on (possibly before this resolves).
   */
  createSession(settings: SessionRequest, notifier: SessionNotifier): Promise<TransportSession>;
  /**
   * The daemon's extension capabilities (`org.netsession.Manager1.GetCapabilities`), e.g.
   * `['Statistics', ...]`; an empty list when the daemon has no extensions (a real connmand).
   */
  capabilities(): Promise<readonly string[]>;
  /** Destroys every session still open on this transport and releases its resources. Idempotent. */
  close(): Promise<void>;
}

/**
 * netsessiond's per-session extensions (`org.netsession.Session1`), each optional: a session
 * method that needs a missing one rejects with {@link ExtensionNotSupportedError}.
 */
export interface SessionExtensions {
  /** Optional (needed by `Session.statistics`): `org.netsession.Session1.GetStatistics` on the session at `path`. */
  statistics?(path: string): Promise<SessionStatistics>;
  /**
   * Optional (names the policy in a {@link BearersNotAllowedError}): the policy group that applies
   * to the session at `path` (`org.netsession.Session1.GetPolicy`), `null` when none does.
   */
  sessionPolicy?(path: string): Promise<string | null>;
  /** Optional (needed by `Session.claimCgroup`): `org.netsession.Session1.ClaimCgroup(cgroup)` on the session at `path`. */
  claimCgroup?(path: string, cgroup: string): Promise<void>;
  /**
   * Optional (needed by the Session's `statistics` event): asks for the counters of the session at
   * `path` every `seconds` (`org.netsession.Session1.SetStatisticsInterval`) and calls `listener`
   * with each `Statistics` signal; the first comes right after the daemon's reply, possibly before
   * this resolves. Resolves with the function that stops it (interval 0), which never rejects and
   * does nothing once the session ended. Watching the same path again replaces the earlier watch
   * (whose stop function then only forgets it). Rejects like the other extension calls
   * ({@link ExtensionNotSupportedError} from a daemon without it, `InvalidArgumentsError` for
   * seconds outside {@link STATISTICS_INTERVAL_LIMITS}).
   */
  watchStatistics?(
    path: string,
    seconds: number,
    listener: (statistics: SessionStatistics) => void,
  ): Promise<() => Promise<void>>;
}

/**
 * How the SDK reaches a session daemon: the {@link SessionTransport} minimum, plus the optional
 * {@link SessionExtensions} and {@link ManagerTransport}. Implement it to put the SDK on something
 * else than the system bus; pass it per call (`createSession({ transport })`) or process-wide
 * ({@link setDefaultTransport}).
 */
export interface Transport extends SessionTransport, SessionExtensions, ManagerTransport {}
