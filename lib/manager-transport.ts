/**
 * The manager part of the {@link Transport} seam, every method optional: the daemon's services,
 * technologies and Manager properties, for {@link monitorUplinks}, {@link getManager}, a
 * session's uplink properties and netsessionctl. A transport without them still carries sessions.
 *
 * @packageDocumentation
 */
import type { NetsessionError } from './errors.js';
import type { Bearer, ManagerState, ServiceState } from './protocol.js';
import type { IPv4Info, IPv6Info, SessionInfo } from './settings.js';
import type { UplinkProperties } from './uplink-props.js';

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
  /** Unique bus name of the client that owns it (`:peer.N` for a client on netsessiond's private socket). */
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

/** What {@link monitorUplinks}, {@link getManager} and netsessionctl need of a transport; each method is optional. */
export interface ManagerTransport {
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
  watchServices?(
    listener: ServicesListener,
    onError?: (error: NetsessionError) => void,
    options?: WatchServicesOptions,
  ): () => void;
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
}
