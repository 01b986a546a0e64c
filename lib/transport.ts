/**
 * The seam between {@link Session} and the daemon (undici's Dispatcher plays this role there).
 * A transport speaks ConnMan's terms — settings keys and values as on the wire, one
 * `Notification` per session — and nothing else: camelCase, validation, events and waiting all
 * live above it, in the session. {@link DBusTransport} talks to netsessiond or connmand over the
 * system bus; {@link MockTransport} lets tests script the daemon.
 *
 * @packageDocumentation
 */
import type { NetsessionError } from './errors.js';
import type { Bearer, ConnectionType, RequestKey, ServiceState, SessionSettings } from './protocol.js';

/** Settings for CreateSession (and values for Change), keyed and typed as ConnMan's wire format. */
export interface SessionRequest {
  AllowedBearers?: Array<Bearer | '*'>;
  ConnectionType?: ConnectionType;
  AllowedInterface?: string;
  SourceIPRule?: boolean;
  ContextIdentifier?: string;
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

/** One service (an uplink the daemon manages), from `Manager.GetServices` / `ServicesChanged`. */
export interface ServiceInfo {
  /** Its object path (`/net/connman/service/...`). */
  readonly path: string;
  /** `Name` (netsessiond: the interface name; connmand: SSID, operator, `Wired`). */
  readonly name: string;
  /** `Ethernet.Interface`: the interface name, or `null` when the daemon does not say. */
  readonly interface: string | null;
  /** `Type`, or `null` for a type the SDK does not know. */
  readonly bearer: Bearer | null;
  /** `State`: sessions may bind to it while it is `ready` or `online`. */
  readonly state: ServiceState;
}

/** Receives the daemon's services: first the current list, then the whole list again on each change. */
export type ServicesListener = (services: readonly ServiceInfo[]) => void;

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
 * How the SDK reaches a session daemon. Implement it to put the SDK on something else than the
 * system bus; pass it per call (`createSession({ transport })`) or process-wide
 * ({@link setDefaultTransport}). Errors must be {@link NetsessionError}s.
 */
export interface Transport {
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
  /** `org.netsession.Session1.GetStatistics` on the session at `path`. */
  statistics(path: string): Promise<SessionStatistics>;
  /** Destroys every session still open on this transport and releases its resources. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional (needed by {@link monitorUplinks}): the daemon's services in its order
   * (`Manager.GetServices`).
   */
  services?(): Promise<readonly ServiceInfo[]>;
  /**
   * Optional (needed by {@link monitorUplinks}): calls `listener` with the current services,
   * then with the whole list each time it changes (`Manager.ServicesChanged`; an empty list while
   * the daemon is gone). `onError` hears failures to read them. Returns the function that stops it.
   */
  watchServices?(listener: ServicesListener, onError?: (error: NetsessionError) => void): () => void;
}
