/**
 * The mock daemon's state and its rules, shared by the session and manager roles of
 * {@link MockTransport}: the uplinks and switches (OfflineMode, Powered), capabilities, uid and
 * policy, recorded calls, injected failures, and whether the daemon is on the "bus".
 */
import { type NetsessionError, SessionClosedError } from '../errors.js';
import type { ServiceInfo, ServicesListener } from '../manager-transport.js';
import { type Bearer, errorName, servicePath } from '../protocol.js';
import { BUS_ERROR, type CallTarget, errorFromReply } from '../reply-errors.js';
import { ipv4Info, ipv6Info } from '../settings.js';
import type { MockSession } from './mock-session.js';
import { isMetered, type MockUplink, uplinkGroup } from './uplink.js';

/** The daemon methods a {@link MockTransport} answers (and records), by their D-Bus names. */
export type MockMethod =
  | 'CreateSession'
  | 'Change'
  | 'Connect'
  | 'Disconnect'
  | 'Destroy'
  | 'GetCapabilities'
  | 'GetStatistics'
  | 'GetServices'
  | 'GetProperties'
  | 'SetProperty'
  | 'GetTechnologies'
  | 'ListSessions'
  | 'ClaimCgroup'
  | 'SetStatisticsInterval'
  | 'GetPolicy';

/**
 * One recorded call: the method, the object path it went to (a session's, a technology's for its
 * SetProperty; null for the Manager) and its arguments in ConnMan's form.
 */
export interface MockCall {
  method: MockMethod;
  path: string | null;
  args: unknown[];
}

/** Options of {@link MockTransport}. */
export interface MockTransportOptions {
  /** The uplinks sessions are bound to by the daemon's selection rule. Default none: sessions start `disconnected`. */
  uplinks?: readonly MockUplink[];
  /**
   * What GetCapabilities answers. Default `['ListSessions', 'Statistics', 'StatisticsSignal', 'ClaimCgroup']`
   * (netsessiond with its datapath). `null` behaves like a real connmand: no extension interfaces at all.
   */
  capabilities?: readonly string[] | null;
  /**
   * The uid the mock daemon sees the caller as (default 0, root). Root-only calls (OfflineMode,
   * Powered, ListSessions) fail with `net.connman.Error.PermissionDenied` for any other.
   */
  uid?: number;
  /**
   * Send each session's first Update right after CreateSession (default true). With false, the
   * test sends it with `mock.lastSession().update({...every key})`; `createSession` resolves then.
   */
  autoUpdate?: boolean;
  /**
   * A policy group that applies to every session, as an administrator's policy file would:
   * `allowedBearers` filters what sessions ask for (an empty result never binds), `group` is what
   * GetPolicy answers (`file:group`). Default none.
   */
  policy?: { group: string; allowedBearers: readonly Bearer[] };
}

const TARGET: Record<MockMethod, CallTarget> = {
  CreateSession: { kind: 'manager' },
  Change: { kind: 'session' },
  Connect: { kind: 'session' },
  Disconnect: { kind: 'session' },
  Destroy: { kind: 'session' },
  GetCapabilities: { kind: 'extension', feature: 'Capabilities', onSession: false },
  GetStatistics: { kind: 'extension', feature: 'Statistics', onSession: true },
  GetServices: { kind: 'manager' },
  GetProperties: { kind: 'manager' },
  SetProperty: { kind: 'manager' },
  GetTechnologies: { kind: 'manager' },
  ListSessions: { kind: 'extension', feature: 'ListSessions', onSession: false },
  ClaimCgroup: { kind: 'extension', feature: 'ClaimCgroup', onSession: true },
  SetStatisticsInterval: { kind: 'extension', feature: 'StatisticsSignal', onSession: true },
  GetPolicy: { kind: 'extension', feature: 'Policy', onSession: true },
};

const ROOT_ONLY = errorName('PermissionDenied');

/** The object path the mock daemon gives an uplink's service. */
export const servicePathOf = (ifname: string): string => servicePath(`mock_${ifname.replace(/[^A-Za-z0-9_]/g, '_')}`);

/**
 * The service the mock daemon shows for an uplink (`idle` while OfflineMode or its technology is
 * off). Metered, roaming and the portal are known only with the `ServiceStatus` capability
 * (netsessiond's extension), as from the D-Bus transport.
 */
function serviceOf(u: MockUplink, enabled: boolean, status: boolean): ServiceInfo {
  const group = uplinkGroup(u);
  const portal = status ? (u.captivePortal ?? false) : null;
  return Object.freeze({
    path: servicePathOf(u.interface),
    name: u.name ?? u.interface,
    interface: u.interface,
    bearer: u.bearer,
    state: !enabled ? 'idle' : (u.state ?? 'online') === 'online' ? 'online' : 'ready',
    // As the daemon: addresses only while connected.
    ipv4: enabled ? ipv4Info(group.IPv4) : null,
    ipv6: enabled ? ipv6Info(group.IPv6) : null,
    nameservers: Object.freeze([...(u.nameservers ?? [])]),
    metered: status ? isMetered(u) : null,
    roaming: status ? (u.roaming ?? false) : null,
    captivePortal: portal,
    portalUrl: portal ? (u.portalUrl ?? null) : null,
  });
}

/** See the file comment. Internal: {@link MockTransport} is the public face. */
export class MockDaemon {
  readonly calls: MockCall[] = [];
  readonly sessions: MockSession[] = [];
  uplinks: readonly MockUplink[];
  readonly capabilities: readonly string[] | null;
  readonly autoUpdate: boolean;
  readonly uid: number;
  readonly policy: { group: string; allowedBearers: readonly Bearer[] } | null;
  offline = false;
  readonly unpowered = new Set<string>();
  readonly #failures = new Map<MockMethod, Array<{ name: string; message: string }>>();
  running = true;
  closed = false;
  serial = 0;
  readonly watchers = new Set<ServicesListener>();

  constructor(options: MockTransportOptions) {
    this.uplinks = Object.freeze([...(options.uplinks ?? [])]);
    this.capabilities =
      options.capabilities === undefined
        ? ['ListSessions', 'Statistics', 'StatisticsSignal', 'ClaimCgroup', 'Policy', 'ServiceStatus', 'AvoidMetered']
        : options.capabilities;
    this.policy = options.policy
      ? Object.freeze({
          group: options.policy.group,
          allowedBearers: Object.freeze([...options.policy.allowedBearers]),
        })
      : null;
    this.autoUpdate = options.autoUpdate ?? true;
    this.uid = options.uid ?? 0;
  }

  /** The sessions that have not ended. */
  get liveSessions(): MockSession[] {
    return this.sessions.filter((s) => !s.destroyed);
  }

  /** Queues a failure for the next call of `method`. */
  failNext(method: MockMethod, name: string, message: string): void {
    const list = this.#failures.get(method) ?? [];
    list.push({ name, message });
    this.#failures.set(method, list);
  }

  /** Records the call, applies an injected failure or the daemon's absence, else runs `fn`. */
  run<T>(method: MockMethod, path: string | null, args: unknown[], fn: () => T): Promise<T> {
    this.calls.push({ method, path, args });
    try {
      if (this.closed) throw new SessionClosedError('transport-closed', 'the transport is closed');
      const injected = this.#failures.get(method)?.shift();
      if (injected) throw this.error(method, injected.name, injected.message);
      if (!this.running)
        throw this.error(
          method,
          BUS_ERROR.serviceUnknown,
          'The name net.connman was not provided by any .service files',
        );
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  servicesChanged(): void {
    const list = this.running ? this.serviceList() : Object.freeze([]);
    for (const w of [...this.watchers]) w(list);
  }

  enabled(u: MockUplink): boolean {
    return !this.offline && !this.unpowered.has(u.bearer);
  }

  /** The uplinks sessions may bind to: none in OfflineMode, none of a technology switched off. */
  enabledUplinks(): readonly MockUplink[] {
    return this.uplinks.filter((u) => this.enabled(u));
  }

  serviceList(): readonly ServiceInfo[] {
    const status = this.capabilities?.includes('ServiceStatus') ?? false;
    return Object.freeze(this.uplinks.map((u) => serviceOf(u, this.enabled(u), status)));
  }

  uplinksChanged(): void {
    // Services first: a session applies its new uplink's properties with the Update that moves it.
    this.servicesChanged();
    for (const s of this.sessions) s._uplinksChanged();
  }

  rootOnly(method: MockMethod): void {
    if (this.uid !== 0) throw this.error(method, ROOT_ONLY, `only root may call ${method}`);
  }

  /** An extension method needs its capability (and any extension at all: `capabilities: null` is connmand). */
  extension(method: MockMethod, capability: string): void {
    if (this.capabilities === null || !this.capabilities.includes(capability))
      throw this.error(method, BUS_ERROR.unknownMethod, `no ${method} here`);
  }

  live(method: MockMethod, path: string): MockSession {
    const s = this.sessions.find((x) => x.path === path);
    if (!s || s.destroyed) throw this.error(method, BUS_ERROR.unknownObject, `no session at ${path}`);
    return s;
  }

  error(method: MockMethod, name: string, message: string): NetsessionError {
    return errorFromReply(name, message, TARGET[method]);
  }
}
