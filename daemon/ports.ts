/**
 * Ports: the interfaces through which the daemon touches the world (driven by the runtime,
 * implemented by adapters; only daemon/main.ts names concrete adapters), each with the messages
 * that cross only it (a link event, a probe request, a default route).
 * The values the core computes or keeps and that ports carry (link facts, the desired kernel
 * state, property dicts, counters, identities, DHCP leases) live beside the core code that owns them.
 * The way in, the D-Bus adapter calling the daemon, is daemon/api.ts.
 */
import type { BusCaller } from './api.js';
import type { LinkCounters } from './core/counters.js';
import type { FirewallState, RoutingState } from './core/kernel-state-types.js';
import type { DhcpLeaseEvent } from './core/manage-plan.js';
import type { OnlineCheckResult } from './core/online-schedule.js';
import type { Identity } from './core/policy.js';
import type { Prop, PropDict } from './core/properties.js';
import type { Family, LinkFacts } from './core/services.js';
import type { Counters } from './core/statistics-schedule.js';

/** What a link source reports. */
export type LinkEvent = { type: 'link'; facts: LinkFacts } | { type: 'link-removed'; ifindex: number };

/** Watches links, addresses and routes (rtnetlink). */
export interface LinkSource {
  /** Starts watching; resolves with the initial dump. Events after the dump go to `onEvent`. */
  start(onEvent: (event: LinkEvent) => void): Promise<LinkFacts[]>;
  stop(): Promise<void>;
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

/** Reads and resets per-session counters. */
export interface Accounting {
  /**
   * Counters by session key: of every session (one dump), or with `sessionKeys` of those
   * sessions at least (an adapter that can reads just them; others may come along).
   */
  read(sessionKeys?: readonly string[]): Promise<Map<string, Counters>>;
  reset(sessionKeys: string[]): Promise<void>;
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

/** Runs HTTP online checks bound to a service's interface. */
export interface OnlineCheck {
  probe(request: OnlineCheckRequest, signal: AbortSignal): Promise<OnlineCheckResult>;
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

/**
 * What the daemon tells its D-Bus clients: Updates, Releases, and the signals of the
 * Manager, Service and Technology objects. Implemented by the D-Bus adapter.
 */
export interface BusEvents {
  /** `Notification.Update(a{sv})` on the client's notifier; `changes` are in wire order. */
  update(owner: string, notifier: string, changes: PropDict): void;
  /**
   * Writes what was sent so far now rather than at the end of the event-loop turn (the bus
   * connection coalesces a turn's messages into one write): the Updates that need not wait go
   * out before the signals and the kernel work that follow them in the same turn.
   */
  flush?(): void;
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

/** Turns a bus caller into an Identity (names from passwd/group, cgroup from /proc). Synchronous: it runs before a CreateSession's reply. */
export interface IdentityResolver {
  /** The caller's identity; without its cgroup when `cgroup` is false (read it later with {@link cgroupOf}). */
  resolve(caller: BusCaller, opts?: { cgroup?: boolean }): Identity;
  /** The cgroupv2 path of process `pid` now, or undefined when it has none or is gone. */
  cgroupOf(pid: number): string | undefined;
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
  applyLinkConfig(
    desired: readonly {
      ifindex: number;
      up: boolean;
      addresses: Array<{ family: Family; address: string; prefixLength: number }>;
    }[],
  ): Promise<{ problems: string[] }>;
  /** Reconciles the default routes of `managed` links; reports routes whose next hop is not reachable yet as `skipped`. */
  applyMainDefaults(
    desired: readonly DefaultRoute[],
    managed: readonly number[],
  ): Promise<{ problems: string[]; skipped: string[] }>;
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
  update(
    services: readonly { ifname: string; nameservers: readonly string[]; domains: readonly string[] }[],
  ): Promise<boolean>;
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
