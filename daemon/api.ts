/**
 * The daemon's operations as the D-Bus adapter calls them. Implemented by the runtime
 * (daemon/runtime/); the D-Bus adapter only decodes messages, calls these, and encodes
 * replies and errors (DaemonError -> net.connman.Error.* via DBUS_ERROR_OF).
 *
 * Ordering contract (ConnMan's): the first Update of a session goes on the wire after the
 * CreateSession reply — the bus adapter holds it until then, so createSession may send it at
 * once; the other session calls send their Updates before they return (or before their promise
 * resolves).
 *
 * It sits at daemon/'s top level beside ports.ts because it is the daemon's way in as the ports
 * are its ways out: the D-Bus adapter and the runtime both import it, and neither owns it.
 */

import type { PropDict } from './core/properties.js';
import type { RawValue } from './core/settings.js';

/** A D-Bus caller, from GetConnectionCredentials. */
export interface BusCaller {
  /** Unique bus name, e.g. `:1.42`. */
  sender: string;
  uid: number;
  gids: number[];
  pid: number | undefined;
}

/** Per-session statistics on the extension interface. */
export interface SessionStatistics {
  rxBytes: bigint;
  txBytes: bigint;
  rxPackets: bigint;
  txPackets: bigint;
}

export interface DaemonApi {
  // net.connman.Manager
  managerProperties(): PropDict;
  /** May return a promise: the reply waits until a persisted setting is written. */
  setManagerProperty(caller: BusCaller, name: string, value: RawValue): void | Promise<void>;
  /** Services in order, each with its full ConnMan property dict. */
  services(): Array<{ path: string; props: PropDict }>;
  technologies(): Array<{ path: string; props: PropDict }>;
  /**
   * The new session's path: synchronously, or a promise when the first Update waits for routing
   * (the reply then waits with it). Refusals throw synchronously.
   */
  createSession(caller: BusCaller, settings: Record<string, RawValue>, notifier: string): string | Promise<string>;
  destroySession(caller: BusCaller, path: string): void;
  /**
   * `RegisterCounter(o, u, u)`: Usage calls go to the caller's object at `path`, the first right
   * after the reply, then every `period` seconds (`accuracy` in kB). The counter ends with
   * UnregisterCounter or when its client leaves the bus.
   */
  registerCounter(caller: BusCaller, path: string, accuracy: number, period: number): void;
  unregisterCounter(caller: BusCaller, path: string): void;

  // net.connman.Service (id = the last path element)
  serviceProperties(serviceId: string): PropDict;
  /** org.netsession.Service1.GetOnlineCheck: per family, online and the captive-portal URL. */
  serviceOnlineCheck(serviceId: string): PropDict;
  /** Brings a managed service up; a promise means: reply once its link is configured. */
  serviceConnect(caller: BusCaller, serviceId: string): void | Promise<void>;
  serviceDisconnect(caller: BusCaller, serviceId: string): void | Promise<void>;
  /** org.netsession.Manager1.GetDefaultRoutes: the gateway lifecycle of managed links' default routes. */
  defaultRoutes(): PropDict[];
  /** `MoveBefore`/`MoveAfter(o target)`: the user's order of managed services; a promise means: reply once routes follow. */
  serviceMove(caller: BusCaller, serviceId: string, target: string, before: boolean): void | Promise<void>;
  /** `SetProperty`: only `AutoConnect` of managed services; a promise means: reply once saved. */
  setServiceProperty(caller: BusCaller, serviceId: string, name: string, value: RawValue): void | Promise<void>;
  /** `ResetCounters()`: the service's counter totals restart from zero, for every counter. */
  serviceResetCounters(caller: BusCaller, serviceId: string): void;

  // net.connman.Technology (type = the last path element)
  technologyProperties(type: string): PropDict;
  /** May return a promise: the reply waits until a persisted setting is written. */
  setTechnologyProperty(caller: BusCaller, type: string, name: string, value: RawValue): void | Promise<void>;

  // net.connman.Session
  // These may return a promise: the Updates they cause wait until the kernel holds what the
  // session's traffic needs (source rules, marks); the reply follows the Updates.
  sessionChange(caller: BusCaller, path: string, name: string, value: RawValue): void | Promise<void>;
  sessionConnect(caller: BusCaller, path: string): void | Promise<void>;
  sessionDisconnect(caller: BusCaller, path: string): void | Promise<void>;
  sessionDestroy(caller: BusCaller, path: string): void | Promise<void>;
  /** True while a session exists at `path` (the adapter exports objects only for these). */
  hasSession(path: string): boolean;

  /** A client left the bus (NameOwnerChanged to ""): its sessions and counters end. */
  clientGone(sender: string): void;

  // org.netsession.Manager1 / org.netsession.Session1 (extensions)
  /** Every session with owner, uid, settings, bound service and byte counts; root only. */
  listSessions(caller: BusCaller): Promise<Array<{ path: string; props: PropDict }>>;
  statistics(caller: BusCaller, path: string): Promise<SessionStatistics>;
  resetStatistics(caller: BusCaller, path: string): Promise<void>;
  /**
   * `SetStatisticsInterval(u)`: `Statistics` signals for the session go to the caller every
   * `seconds` (0 stops them), the first right after the reply, until the session ends or the
   * caller leaves the bus. Owner or root; NotSupported without the accounting datapath.
   */
  setStatisticsInterval(caller: BusCaller, path: string, seconds: number): void;
  /**
   * `ClaimCgroup(s)`: the traffic of cgroup `cgroup`'s processes belongs to the session; resolves
   * once the kernel classifies it (so a process started after the reply is marked from its first
   * packet). Owner or root; a non-root caller may claim only a cgroup directory it owns.
   */
  claimCgroup(caller: BusCaller, path: string, cgroup: string): Promise<void>;
  /** `GetServiceStatus()`: every service's status dict (metered, roaming, captive portal), in service order. */
  serviceStatus(): Array<{ path: string; props: PropDict }>;
  /** `GetPolicy()`: `{ Group: 'file:group' | '' }` of the session's policy match. Owner or root. */
  sessionPolicy(caller: BusCaller, path: string): PropDict;
  capabilities(): string[];
}
