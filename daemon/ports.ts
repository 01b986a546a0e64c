/**
 * Ports: the small interfaces through which the daemon touches the world. The core imports
 * only this file (and lib/protocol.ts); adapters implement these; only daemon/main.ts names
 * concrete adapters. The plain-value types exchanged across the ports live here too.
 */
import type { Bearer, IpMethod } from '../lib/protocol.js';

/** 4 or 6. */
export type Family = 4 | 6;

/** One address on a link, as rtnetlink reports it. */
export interface AddressFact {
  family: Family;
  address: string;
  prefixLength: number;
  /** How the address came to be: dynamic v4 leases are `dhcp`, SLAAC v6 `auto`, others `manual`. */
  method: IpMethod;
  /** Link-local and host-scoped addresses never make a service ready. */
  scope: 'global' | 'link' | 'host';
}

/** A default route through a link (from the main table). */
export interface GatewayFact {
  family: Family;
  gateway: string;
  metric: number;
}

/** Everything the core needs to know about one network link. */
export interface LinkFacts {
  ifindex: number;
  name: string;
  /** rtnetlink link kind (`veth`, `wireguard`, `tun`, ...), or '' for plain devices. */
  kind: string;
  /** MAC address as `aa:bb:cc:dd:ee:ff`, or '' when the link has none. */
  mac: string;
  /** Bearer decided by the link source (sysfs, link kind, per-interface override); null: not a service. */
  bearer: Bearer | null;
  adminUp: boolean;
  carrier: boolean;
  mtu: number;
  addresses: AddressFact[];
  gateways: GatewayFact[];
  nameservers: string[];
}

/** What a link source reports. */
export type LinkEvent = { type: 'link'; facts: LinkFacts } | { type: 'link-removed'; ifindex: number };

/** Watches links, addresses and routes (rtnetlink). */
export interface LinkSource {
  /** Starts watching; resolves with the initial dump. Events after the dump go to `onEvent`. */
  start(onEvent: (event: LinkEvent) => void): Promise<LinkFacts[]>;
  stop(): Promise<void>;
}

/** Who is calling: from the bus (GetConnectionCredentials) plus name lookups. */
export interface Identity {
  uid: number;
  /** User name for `uid`, when the passwd database has one. */
  user?: string;
  /** Primary and supplementary groups, with names when known. */
  groups: Array<{ gid: number; name?: string }>;
  pid?: number;
  /** cgroupv2 path of the calling process (e.g. `/system.slice/app.service`), when known. */
  cgroup?: string;
  /** SELinux type (third field of the context), when the bus reports a label. */
  selinuxType?: string;
}

// ---------------------------------------------------------------------------------------------
// Desired kernel state: a plain value computed by the core, applied by reconciling adapters.
// ---------------------------------------------------------------------------------------------

/** A route inside one of the daemon's per-service tables. */
export interface TableRoute {
  family: Family;
  /** Destination prefix; `default` routes have dst '' and dstLen 0. */
  dst: string;
  dstLen: number;
  /** Next hop; absent for on-link routes. */
  gateway?: string;
  ifindex: number;
  table: number;
}

/** `ip rule` entries the daemon owns. */
export type PolicyRule =
  | { kind: 'fwmark'; family: Family; priority: number; mark: number; mask: number; table: number }
  | { kind: 'source'; family: Family; priority: number; src: string; srcLen: number; table: number };

/** One service's share of the routing state. */
export interface ServiceRouting {
  serviceId: string;
  ifindex: number;
  ifname: string;
  table: number;
  mark: number;
  routes: TableRoute[];
}

/** Routing half of the desired state. */
export interface RoutingState {
  services: ServiceRouting[];
  rules: PolicyRule[];
}

/** How a packet's owner is recognised. */
export type IdentityKind = 'cgroup' | 'uid' | 'gid' | 'source';

/** One classification entry: traffic of `key` belongs to `sessionKey`. */
export interface Classifier {
  kind: IdentityKind;
  /** uid/gid as a decimal number, cgroup path, or source address. */
  key: string;
  family?: Family;
  sessionKey: string;
}

/** Per-session marking and counting. */
export interface SessionMarking {
  /** Stable, kernel-safe name of this session (counter and chain names derive from it). */
  sessionKey: string;
  /** Mark of the service the session is bound to, or 0 when it is not bound (count only). */
  mark: number;
  /** The session's tag (inside FirewallState.tagMask); packet and conntrack marks carry it. */
  tag: number;
  /** Outgoing interface of the bound service (for SNAT), or '' when unbound. */
  ifname: string;
  /** Source addresses to SNAT to on that interface (one per family at most). */
  snat: Array<{ family: Family; address: string }>;
}

/** Firewall half of the desired state. */
export interface FirewallState {
  mask: number;
  /** Bits of the mark that carry session tags (disjoint from `mask`). */
  tagMask: number;
  sessions: SessionMarking[];
  /** Classifiers sorted by kind order then key; each identity key appears once (its owner). */
  classifiers: Classifier[];
}

/** The whole desired kernel state. */
export interface KernelState {
  routing: RoutingState;
  firewall: FirewallState;
}

/** Applies routing (rules, per-service tables) by reconciling with what the kernel holds. */
export interface Routing {
  /**
   * Makes the kernel hold `desired`. An adapter may plan against what it applied last; with
   * `verify` it must read the kernel back first (undoing changes made from outside).
   */
  apply(desired: RoutingState, opts?: { verify?: boolean }): Promise<void>;
  /** Removes everything the daemon owns. */
  clear(): Promise<void>;
}

/** Applies marking/classification/SNAT by reconciling with what the kernel holds. */
export interface Firewall {
  /**
   * Makes the kernel hold `desired`. An adapter may diff against what it applied last; with
   * `verify` it must read the kernel back first (undoing changes made from outside).
   */
  apply(desired: FirewallState, opts?: { verify?: boolean }): Promise<void>;
  clear(): Promise<void>;
}

/** Byte and packet counts of one session, both directions. */
export interface Counters {
  rxBytes: bigint;
  txBytes: bigint;
  rxPackets: bigint;
  txPackets: bigint;
}

/** Reads and resets per-session counters. */
export interface Accounting {
  /**
   * Counters by session key: of every session (one dump), or with `sessionKeys` of those
   * sessions at least (an adapter that can reads just them; others may come along).
   */
  read(sessionKeys?: readonly string[]): Promise<Map<string, Counters>>;
  reset(sessionKeys: string[]): Promise<void>;
}

/**
 * A link's kernel statistics (`rtnl_link_stats64`): totals since the link was created. They
 * only grow, except when a driver resets them or the link is re-created.
 */
export interface LinkCounters {
  rxPackets: bigint;
  txPackets: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  rxErrors: bigint;
  txErrors: bigint;
  rxDropped: bigint;
  txDropped: bigint;
}

/** Reads link statistics (per-service counters, ConnMan's `net.connman.Counter`). */
export interface LinkStats {
  /** Statistics of the given links; a link that does not exist (any more) is absent from the map. */
  read(ifindexes: readonly number[]): Promise<Map<number, LinkCounters>>;
}

/** One online-check probe through one service's interface. */
export interface OnlineCheckRequest {
  serviceId: string;
  family: Family;
  ifname: string;
  ifindex: number;
  localAddress: string;
  url: string;
}

/** Outcome of one probe (ConnMan's `wispr_portal_web_result`, reduced). */
export type OnlineCheckResult =
  | { kind: 'online' }
  | { kind: 'portal'; location?: string }
  | { kind: 'failure'; reason: string };

/** Runs HTTP online checks bound to a service's interface. */
export interface OnlineCheck {
  probe(request: OnlineCheckRequest, signal: AbortSignal): Promise<OnlineCheckResult>;
}

/** Calls the client's `net.connman.Notification` object. */
export interface NotificationSink {
  update(owner: string, notifier: string, changes: ReadonlyMap<string, unknown>): void;
  release(owner: string, notifier: string): void;
}

/** Time, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** Small persistent key/value files in the state dir, written atomically. */
export interface Store {
  read(key: string): Promise<string | null>;
  write(key: string, data: string): Promise<void>;
  /** False when writes cannot succeed (a read-only directory): the runtime then never writes. */
  readonly writable?: boolean;
  /** Where a key lives, for log lines that tell an operator what to fix. */
  describe?(key: string): string;
}

/** A ConnMan property value with its D-Bus signature (e.g. `{ signature: 'b', value: true }`). */
export interface Prop {
  signature: string;
  value: unknown;
}
/** A property dict (`a{sv}`), keys in the order they should go on the wire. */
export type PropDict = Record<string, Prop>;

/**
 * What the daemon tells its D-Bus clients: Updates, Releases, and the signals of the
 * Manager, Service and Technology objects. Implemented by the D-Bus adapter.
 */
export interface BusEvents {
  /** `Notification.Update(a{sv})` on the client's notifier; `changes` are in wire order. */
  update(owner: string, notifier: string, changes: PropDict): void;
  /** `Notification.Release()` (shutdown only, as ConnMan). */
  release(owner: string, notifier: string): void;
  /**
   * `Counter.Usage(o, a{sv}, a{sv})` on a client's counter object (no reply expected). The dicts
   * hold `u` values in ConnMan's key order; an empty dict is sent as an empty `a{sv}`.
   */
  counterUsage(owner: string, path: string, service: string, home: PropDict, roaming: PropDict): void;
  /** `Counter.Release()` (shutdown only, as ConnMan). */
  counterRelease(owner: string, path: string): void;
  /**
   * `org.netsession.Session1.Statistics(a{sv})` from the session object at `path`, sent to the
   * one client that asked for it (`subscriber`, a unique bus name); `stats` has the keys of
   * GetStatistics, each a `t`.
   */
  sessionStatistics(subscriber: string, path: string, stats: PropDict): void;
  /** The session object at `path` is gone: unexport it. */
  sessionRemoved(path: string): void;
  /** `Manager.ServicesChanged(a(oa{sv}), ao)`: the full order, with properties for changed services. */
  servicesChanged(order: Array<{ path: string; props: PropDict | null }>, removed: string[]): void;
  /** `Service.PropertyChanged(s, v)` on one service object. */
  servicePropertyChanged(serviceId: string, name: string, value: Prop): void;
  /** `org.netsession.Manager1.ServiceStatusChanged(a(oa{sv}))`: the whole status of each service whose status changed. */
  serviceStatusChanged?(changed: Array<{ path: string; props: PropDict }>): void;
  technologyAdded(path: string, props: PropDict): void;
  technologyRemoved(path: string): void;
  technologyPropertyChanged(path: string, name: string, value: Prop): void;
  managerPropertyChanged(name: string, value: Prop): void;
}

/** A D-Bus caller, from GetConnectionCredentials. */
export interface BusCaller {
  /** Unique bus name, e.g. `:1.42`. */
  sender: string;
  uid: number;
  gids: number[];
  pid: number | undefined;
}

/** Turns a bus caller into an Identity (names from passwd/group, cgroup from /proc). */
export interface IdentityResolver {
  resolve(caller: BusCaller): Promise<Identity>;
}

/** Looks at cgroupv2 directories (for ClaimCgroup's permission rule). */
export interface CgroupDirectory {
  /**
   * The uid owning the directory of cgroup `path` (`/a/b`, relative to the cgroup2 root), or
   * null when there is no such cgroup (or no cgroup2 mount to look in).
   */
  ownerOf(path: string): Promise<number | null>;
}

/** Delivers policy files: the whole directory at start, then each change (text null = deleted). */
export interface PolicySource {
  start(onFile: (file: string, text: string | null) => void): Promise<void>;
  stop(): Promise<void>;
}

/** Delivers provisioning files (`*.config`) the same way: whole directory at start, then each change. */
export type ProvisioningSource = PolicySource;

/** Log sink (stderr in the daemon). */
export type Logger = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void;

// ---------------------------------------------------------------------------------------------
// DHCPv4: a client that only reports leases; the daemon configures the interface itself.
// ---------------------------------------------------------------------------------------------

/**
 * One DHCPv4 lease event. `bound`: a new lease (it may replace an earlier one without an `expire`
 * in between, e.g. after the client process was restarted). `renew`: the same lease extended,
 * options possibly changed. `expire`: the lease was lost (not renewed in time, or NAKed).
 * `release`: the lease was given back because the client was stopped. `expire` and `release`
 * carry the lease that ends.
 */
export interface DhcpLeaseEvent {
  type: 'bound' | 'renew' | 'expire' | 'release';
  /** The leased IPv4 address. */
  address: string;
  prefixLength: number;
  /** First router the server offered, or '' for none. */
  router: string;
  /** DNS servers in the server's order (IPv4 only). */
  dns: string[];
  /** Lease time in seconds as the server granted it (0 when the server sent none). */
  leaseSeconds: number;
  /** The server's identifier (its address), or '' when unknown. */
  serverId: string;
}

/** How {@link DhcpClient.stop} ends a lease. */
export interface StopOptions {
  /**
   * Send DHCPRELEASE (default true). False when the link lost its carrier: the RELEASE could not
   * arrive, and a client that can keeps the lease to ask for it again (INIT-REBOOT) when the link
   * comes back. A `release` event is reported either way.
   */
  release?: boolean;
}

/** Runs a DHCPv4 client per interface. It never configures the interface; it reports leases. */
export interface DhcpClient {
  /** Starts acquiring a lease on `ifname`; lease events go to `onLease`. Throws if already running there. */
  start(ifname: string, onLease: (event: DhcpLeaseEvent) => void): void;
  /** Asks the server to extend the current lease now (e.g. after the carrier came back). No-op when not running. */
  renew(ifname: string): void;
  /** Releases the lease (a `release` event when one was held) and ends the client. No-op when not running. */
  stop(ifname: string, opts?: StopOptions): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Manage mode: configuring the links the daemon owns.
// ---------------------------------------------------------------------------------------------

/** One main-table default route of a managed link. */
export interface DefaultRoute {
  ifindex: number;
  family: Family;
  gateway: string | null;
  /** 0 for the default service; the kernel shows IPv6 metric 0 as 1024. */
  metric: number;
}

/** Admin state, static addresses and main-table default routes of managed links (rtnetlink). */
export interface LinkConfigurator {
  /** Subscribes to route notifications (a default route is `active` only once the kernel says so). */
  start(): Promise<void>;
  stop(): void;
  /** Reconciles admin state and the daemon's own addresses; throws when some operation failed (the rest is applied). */
  applyLinkConfig(desired: readonly { ifindex: number; up: boolean; addresses: Array<{ family: Family; address: string; prefixLength: number }> }[]): Promise<{ problems: string[] }>;
  /** Reconciles the default routes of `managed` links; reports routes whose next hop is not reachable yet as `skipped`. */
  applyMainDefaults(desired: readonly DefaultRoute[], managed: readonly number[]): Promise<{ problems: string[]; skipped: string[] }>;
  /** Resolves true once the kernel has confirmed `route`, false after `timeoutMs`. */
  waitActive(route: DefaultRoute, timeoutMs: number): Promise<boolean>;
  /** Every default route handled so far with its lifecycle state (inactive, added, active, removed). */
  lifecycle(): Array<{ family: Family; ifindex: number; gateway: string | null; metric: number; state: string }>;
}

/** Per-link IPv6 switches (sysctls): enabled at all, and autoconfiguration from router advertisements. */
export interface Ipv6Switches {
  set(ifname: string, enabled: boolean, slaac: boolean): Promise<void>;
}

/** The resolv.conf-style nameserver file in the state dir. */
export interface NameserverFile {
  readonly path: string;
  /** Rewrites the file when its text changes (default service first). */
  update(services: readonly { ifname: string; nameservers: readonly string[]; domains: readonly string[] }[]): Promise<boolean>;
}

/**
 * Integer sysctls of the daemon's own network namespace, by path below /proc/sys
 * (`net/ipv4/conf/eth0/rp_filter`).
 */
export interface SysctlWriter {
  /** The value; null when the file is missing (the interface is gone) or holds no integer. */
  read(path: string): Promise<number | null>;
  /** Writes the value; rejects with the failed write's error (`code` is its errno name). */
  write(path: string, value: number): Promise<void>;
}
