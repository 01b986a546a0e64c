/**
 * The seam between {@link Session} and the daemon (undici's Dispatcher plays this role there).
 * A transport speaks ConnMan's terms — settings keys and values as on the wire, one
 * `Notification` per session — and nothing else: camelCase, validation, events and waiting all
 * live above it, in the session. {@link DBusTransport} talks to netsessiond or connmand over the
 * system bus; {@link MockTransport} lets tests script the daemon.
 *
 * @packageDocumentation
 */
import type { BearersNotAllowedError, ExtensionNotSupportedError, NetsessionError } from './errors.js';
import type { Bearer, ConnectionType, ManagerState, RequestKey, ServiceState, SessionSettings, STATISTICS_INTERVAL_LIMITS } from './protocol.js';
import type { IPv4Info, IPv6Info, SessionInfo } from './settings.js';
import type { UplinkProperties } from './uplink-props.js';

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

/**
 * One service (an uplink the daemon manages), from `Manager.GetServices` / `ServicesChanged`, with
 * its {@link UplinkProperties} (`nameservers` from ConnMan's `Nameservers`; `metered`, `roaming`,
 * `captivePortal`, `portalUrl` from netsessiond's service status, `null` where the daemon does not say).
 */
export interface ServiceInfo extends UplinkProperties {
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
  /** `IPv4`: address, netmask, gateway and method while it is connected; `null` when it has none. */
  readonly ipv4: IPv4Info | null;
  /** `IPv6`: address, prefix length, gateway and method while it is connected; `null` when it has none. */
  readonly ipv6: IPv6Info | null;
}

/** The Manager's properties (`Manager.GetProperties`). */
export interface ManagerProperties {
  /** The global state: `offline` (OfflineMode), `idle`, `ready` or `online`. */
  readonly state: ManagerState;
  /** OfflineMode: every technology is off and every session disconnected. */
  readonly offlineMode: boolean;
  /** ConnMan's deprecated SessionMode (stored, no effect). */
  readonly sessionMode: boolean;
}

/** One technology (`Manager.GetTechnologies`): the daemon has one per bearer that has a service. */
export interface TechnologyInfo {
  /** Its object path (`/net/connman/technology/<type>`). */
  readonly path: string;
  /** `Type`: `ethernet`, `wifi`, `cellular`, … (the name `enable`/`setPowered` take). */
  readonly type: string;
  /** `Name`, e.g. `Wired`. */
  readonly name: string;
  /** `Powered`: its services may connect. */
  readonly powered: boolean;
  /** `Connected`: one of its services is ready or online. */
  readonly connected: boolean;
  /** `Tethering`. */
  readonly tethering: boolean;
}

/** One session as netsessiond's `ListSessions` extension reports it to root. */
export interface SessionListEntry {
  /** The session's object path. */
  readonly path: string;
  /** Unique bus name of the client that owns it. */
  readonly owner: string;
  /** The owner's uid. */
  readonly uid: number;
  /** Object path of the service it is bound to, or `null`. */
  readonly service: string | null;
  /** The policy group that applies (`file:group`), or `null`. */
  readonly policyGroup: string | null;
  /** False between the client's Disconnect and its next Connect. */
  readonly active: boolean;
  /** cgroups the session claimed (ClaimCgroup). */
  readonly cgroups: readonly string[];
  /** Its settings, as an Update would report them (the uplink properties, `nameservers` …, are not listed: empty/`null`). */
  readonly settings: SessionInfo;
  /** Bytes received and sent by its traffic; `null` without the kernel datapath. */
  readonly rxBytes: bigint | null;
  readonly txBytes: bigint | null;
}

/** Options of `Transport.watchServices`. */
export interface WatchServicesOptions {
  /**
   * The watch a session keeps for its uplink's properties (nameservers, metered, …): the same
   * data, but {@link MockTransport} does not record it in `calls` (an app's test sees only its own calls).
   */
  forSession?: boolean;
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
  watchServices?(listener: ServicesListener, onError?: (error: NetsessionError) => void, options?: WatchServicesOptions): () => void;
  /** Optional (needed by {@link getManager}): `Manager.GetProperties`. */
  managerProperties?(): Promise<ManagerProperties>;
  /** Optional (needed by {@link getManager}): `Manager.SetProperty('OfflineMode', b)` (root only). */
  setOfflineMode?(offline: boolean): Promise<void>;
  /** Optional (needed by {@link getManager}): `Manager.GetTechnologies`. */
  technologies?(): Promise<readonly TechnologyInfo[]>;
  /** Optional (needed by {@link getManager}): `Technology.SetProperty('Powered', b)` on technology `type` (root only). */
  setTechnologyPowered?(type: string, powered: boolean): Promise<void>;
  /**
   * @internal Optional (netsessionctl's `connect`): `Service.Connect` on the service at `path` (root only;
   * netsessiond's managed links).
   */
  connectService?(path: string): Promise<void>;
  /** @internal Optional (netsessionctl's `disconnect`): `Service.Disconnect` on the service at `path` (root only). */
  disconnectService?(path: string): Promise<void>;
  /** @internal Optional (netsessionctl's `autoconnect`): `Service.SetProperty('AutoConnect', b)` on the service at `path` (root only). */
  setServiceAutoConnect?(path: string, autoConnect: boolean): Promise<void>;
  /** Optional (needed by {@link getManager}): `org.netsession.Manager1.ListSessions` (netsessiond only, root only). */
  listSessions?(): Promise<readonly SessionListEntry[]>;
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
  watchStatistics?(path: string, seconds: number, listener: (statistics: SessionStatistics) => void): Promise<() => Promise<void>>;
}
