/**
 * A scripted session daemon for unit tests of apps that use netsession (undici's MockAgent plays
 * this role there): no bus, no daemon, synchronous Updates, recorded calls, injected failures.
 */
import { BUS_ERROR, errorFromReply, type CallTarget } from '../reply-errors.js';
import { DaemonUnavailableError, SessionClosedError, type NetsessionError } from '../errors.js';
import { STATISTICS_INTERVAL_LIMITS, errorName, servicePath, sessionPath, technologyPath, type Bearer, type ManagerState, type RequestKey } from '../protocol.js';
import { decodeUpdate, EMPTY_INFO, ipv4Info, ipv6Info, mergeUpdate } from '../settings.js';
import type { ManagerProperties, ServiceInfo, ServicesListener, SessionListEntry, TechnologyInfo, WatchServicesOptions } from '../manager-transport.js';
import type { SessionNotifier, SessionRequest, SessionStatistics, Transport, TransportSession } from '../transport.js';
import { MockRejection, MockSession } from './mock-session.js';
import { isMetered, uplinkGroup, type MockUplink } from './uplink.js';

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

const TECH_NAMES: Record<Bearer, string> = { ethernet: 'Wired', wifi: 'WiFi', bluetooth: 'Bluetooth', cellular: 'Cellular', gadget: 'Gadget', vpn: 'VPN' };
const ROOT_ONLY = errorName('PermissionDenied');

const servicePathOf = (ifname: string): string => servicePath(`mock_${ifname.replace(/[^A-Za-z0-9_]/g, '_')}`);

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

/** ClaimCgroup's path rule, as netsessiond applies it: absolute and normalised, not the root. */
function isCgroupPath(p: string): boolean {
  return /^(\/[^/]+)+$/.test(p) && !p.split('/').some((x) => x === '.' || x === '..') && !/["\\\x00-\x1f\x7f]/.test(p);
}

/**
 * A {@link Transport} that plays the daemon in memory. Pass it as `createSession({ transport })`
 * or make it the default with `setDefaultTransport`.
 *
 * @example
 * const mock = new MockTransport({ uplinks: [{ interface: 'eth0', bearer: 'ethernet', ipv4: '198.51.100.7' }] });
 * const s = await createSession({ transport: mock });
 * s.interface;                                            // 'eth0'
 * mock.lastSession().goOnline({ interface: 'wwan0', bearer: 'cellular' });   // 'interface' fires
 * mock.failNext('Change', 'net.connman.Error.PermissionDenied');
 * await s.change({ sourceIPRule: true });                 // rejects with PermissionDeniedError
 */
export class MockTransport implements Transport {
  /** Every call the SDK made, in order. */
  readonly calls: MockCall[] = [];
  /** Every session created, in order (ended ones included: check `destroyed`). */
  readonly sessions: MockSession[] = [];
  #uplinks: readonly MockUplink[];
  readonly #capabilities: readonly string[] | null;
  readonly #autoUpdate: boolean;
  readonly #uid: number;
  readonly #policy: { group: string; allowedBearers: readonly Bearer[] } | null;
  #offline = false;
  readonly #unpowered = new Set<string>();
  readonly #failures = new Map<MockMethod, Array<{ name: string; message: string }>>();
  #running = true;
  #closed = false;
  #serial = 0;
  readonly #watchers = new Set<ServicesListener>();

  constructor(options: MockTransportOptions = {}) {
    this.#uplinks = Object.freeze([...(options.uplinks ?? [])]);
    this.#capabilities =
      options.capabilities === undefined ? ['ListSessions', 'Statistics', 'StatisticsSignal', 'ClaimCgroup', 'Policy', 'ServiceStatus', 'AvoidMetered'] : options.capabilities;
    this.#policy = options.policy ? Object.freeze({ group: options.policy.group, allowedBearers: Object.freeze([...options.policy.allowedBearers]) }) : null;
    this.#autoUpdate = options.autoUpdate ?? true;
    this.#uid = options.uid ?? 0;
  }

  /** The current uplinks. */
  get uplinks(): readonly MockUplink[] {
    return this.#uplinks;
  }

  /** Replaces the uplinks (a link came or went, an online check changed): every live session is re-evaluated, one Update each. */
  setUplinks(uplinks: readonly MockUplink[]): void {
    this.#uplinks = Object.freeze([...uplinks]);
    this.#uplinksChanged();
  }

  /** The sessions that have not ended. */
  get liveSessions(): MockSession[] {
    return this.sessions.filter((s) => !s.destroyed);
  }

  /** The most recently created session; throws if there is none. */
  lastSession(): MockSession {
    const s = this.sessions.at(-1);
    if (!s) throw new Error('MockTransport: no session was created yet');
    return s;
  }

  /** The mock side of the SDK session (or object path) `session`; throws if unknown. */
  sessionFor(session: { path: string } | string): MockSession {
    const path = typeof session === 'string' ? session : session.path;
    const s = this.sessions.find((x) => x.path === path);
    if (!s) throw new Error(`MockTransport: no session at ${path}`);
    return s;
  }

  /**
   * Makes the next call of `method` fail with the D-Bus error `name` (e.g.
   * `net.connman.Error.InvalidArguments`, or `org.freedesktop.DBus.Error.ServiceUnknown`), exactly
   * as the D-Bus transport would report it. Failures queue up per method.
   */
  failNext(method: MockMethod, name: string = errorName('Failed'), message = `injected ${name}`): void {
    const list = this.#failures.get(method) ?? [];
    list.push({ name, message });
    this.#failures.set(method, list);
  }

  /**
   * The daemon stops. With `release: true` it says goodbye first (each session gets Release, as
   * on SIGTERM); otherwise it just vanishes from the bus (each session is lost with a
   * DaemonUnavailableError). Until {@link MockTransport.startDaemon}, calls fail as with no daemon on the bus.
   */
  stopDaemon(options: { release?: boolean } = {}): void {
    this.#running = false;
    for (const s of this.liveSessions) {
      if (options.release) s.release();
      else s._lose(new DaemonUnavailableError('daemon-left', 'the session daemon left the bus'));
    }
    this.#servicesChanged();
  }

  /** The daemon is back on the bus (sessions that ended stay ended). */
  startDaemon(): void {
    this.#running = true;
    this.#servicesChanged();
  }

  // ------------------------------------------------------------------ Transport

  createSession(settings: SessionRequest, notifier: SessionNotifier): Promise<TransportSession> {
    return this.#run('CreateSession', null, [structuredClone(settings)], () => {
      // Like connmand, a daemon without the extension refuses the unknown key.
      if (settings.AvoidMetered !== undefined && !this.#capabilities?.includes('AvoidMetered')) {
        throw this.#error('CreateSession', errorName('InvalidArguments'), 'unknown setting AvoidMetered');
      }
      const path = sessionPath(':1.1', `/netsession/mock/s${++this.#serial}`);
      const s = MockSession._create(path, settings, notifier, () => this.#enabledUplinks(), this.#policy?.allowedBearers ?? null);
      this.sessions.push(s);
      if (this.#autoUpdate) queueMicrotask(() => s._start());
      return this.#handle(s);
    });
  }

  capabilities(): Promise<readonly string[]> {
    return this.#run('GetCapabilities', null, [], () => {
      if (this.#capabilities === null) throw this.#error('GetCapabilities', BUS_ERROR.unknownMethod, 'no org.netsession.Manager1 here');
      return [...this.#capabilities];
    }).catch((err: unknown) => {
      if ((err as NetsessionError).code === 'NS_ERR_EXTENSION_NOT_SUPPORTED') return [];
      throw err;
    });
  }

  statistics(path: string): Promise<SessionStatistics> {
    return this.#run('GetStatistics', path, [], () => {
      if (this.#capabilities === null || !this.#capabilities.includes('Statistics')) {
        throw this.#error('GetStatistics', BUS_ERROR.unknownMethod, 'no statistics here');
      }
      return { ...this.#live('GetStatistics', path).statistics };
    });
  }

  /** One service per uplink, in the uplinks' order (state `online`, `ready` for a `connected` uplink, `idle` while switched off). */
  services(): Promise<readonly ServiceInfo[]> {
    return this.#run('GetServices', null, [], () => this.#serviceList());
  }

  /** State from the uplinks sessions may use; `offline` in OfflineMode. */
  managerProperties(): Promise<ManagerProperties> {
    return this.#run('GetProperties', null, [], () => {
      const up = this.#enabledUplinks();
      const state: ManagerState = this.#offline ? 'offline' : up.some((u) => (u.state ?? 'online') === 'online') ? 'online' : up.length ? 'ready' : 'idle';
      return Object.freeze({ state, offlineMode: this.#offline, sessionMode: false });
    });
  }

  /** OfflineMode (root only): sessions lose their uplinks until it is off again. */
  setOfflineMode(offline: boolean): Promise<void> {
    return this.#run('SetProperty', null, ['OfflineMode', offline], () => {
      this.#rootOnly('SetProperty');
      if (this.#offline === offline) return;
      this.#offline = offline;
      this.#uplinksChanged();
    });
  }

  /** One technology per bearer of the uplinks, in order of first appearance. */
  technologies(): Promise<readonly TechnologyInfo[]> {
    return this.#run('GetTechnologies', null, [], () => {
      const out: TechnologyInfo[] = [];
      for (const u of this.#uplinks) {
        if (out.some((t) => t.type === u.bearer)) continue;
        const powered = !this.#unpowered.has(u.bearer);
        const connected = powered && !this.#offline && this.#uplinks.some((x) => x.bearer === u.bearer);
        out.push(Object.freeze({ path: technologyPath(u.bearer), type: u.bearer, name: TECH_NAMES[u.bearer], powered, connected, tethering: false }));
      }
      return Object.freeze(out);
    });
  }

  /** Powered (root only): a technology switched off hides its uplinks from sessions. ConnMan's errors for no change. */
  setTechnologyPowered(type: string, powered: boolean): Promise<void> {
    return this.#run('SetProperty', `/net/connman/technology/${type}`, ['Powered', powered], () => {
      this.#rootOnly('SetProperty');
      if (!this.#uplinks.some((u) => u.bearer === type)) throw this.#error('SetProperty', 'org.freedesktop.DBus.Error.UnknownObject', `no technology ${type}`);
      if (powered === !this.#unpowered.has(type)) throw this.#error('SetProperty', errorName(powered ? 'AlreadyEnabled' : 'AlreadyDisabled'), `${type} is already ${powered ? 'enabled' : 'disabled'}`);
      if (powered) this.#unpowered.delete(type);
      else this.#unpowered.add(type);
      this.#uplinksChanged();
    });
  }

  /** Every live session (root only; needs the `ListSessions` capability). Owner `:1.1`, uid as in the options. */
  listSessions(): Promise<readonly SessionListEntry[]> {
    return this.#run('ListSessions', null, [], () => {
      this.#extension('ListSessions', 'ListSessions');
      this.#rootOnly('ListSessions');
      const counted = this.#capabilities?.includes('Statistics') ?? false;
      return Object.freeze(
        this.liveSessions.map((s) =>
          Object.freeze({
            path: s.path,
            owner: ':1.1',
            uid: this.#uid,
            service: s.settings.Interface ? servicePathOf(s.settings.Interface) : null,
            policyGroup: this.#policy?.group ?? null,
            active: s.active,
            cgroups: Object.freeze([...s.cgroups]),
            settings: mergeUpdate(EMPTY_INFO, decodeUpdate(s.settings)).info,
            rxBytes: counted ? s.statistics.rxBytes : null,
            txBytes: counted ? s.statistics.txBytes : null,
          }),
        ),
      );
    });
  }

  /** GetPolicy (needs the `Policy` capability): the `policy` option's group, or null without one. */
  sessionPolicy(path: string): Promise<string | null> {
    return this.#run('GetPolicy', path, [], () => {
      this.#extension('GetPolicy', 'Policy');
      this.#live('GetPolicy', path);
      return this.#policy?.group ?? null;
    });
  }

  /** Records the claim on the session (`MockSession.cgroups`); a path that is not absolute and normalised is InvalidArguments. */
  claimCgroup(path: string, cgroup: string): Promise<void> {
    return this.#run('ClaimCgroup', path, [cgroup], () => {
      this.#extension('ClaimCgroup', 'ClaimCgroup');
      const s = this.#live('ClaimCgroup', path);
      if (!isCgroupPath(cgroup)) throw this.#error('ClaimCgroup', errorName('InvalidArguments'), `'${cgroup}' is not an absolute, normalised cgroup path`);
      if (!s.cgroups.includes(cgroup)) s.cgroups.push(cgroup);
    });
  }

  /**
   * A recorded `SetStatisticsInterval(seconds)` (needs the `StatisticsSignal` capability; seconds
   * outside {@link STATISTICS_INTERVAL_LIMITS} are InvalidArguments). Nothing is sent by itself:
   * the test sends each signal with `mock.sessionFor(s).emitStatistics(...)`. The stop function
   * records `SetStatisticsInterval(0)` unless the session ended first.
   */
  watchStatistics(path: string, seconds: number, listener: (statistics: SessionStatistics) => void): Promise<() => Promise<void>> {
    return this.#run('SetStatisticsInterval', path, [seconds], () => {
      this.#extension('SetStatisticsInterval', 'StatisticsSignal');
      const s = this.#live('SetStatisticsInterval', path);
      const { min, max } = STATISTICS_INTERVAL_LIMITS;
      if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
        throw this.#error('SetStatisticsInterval', errorName('InvalidArguments'), `statistics interval must be 0 (stop) or ${min} to ${max} seconds, got ${seconds}`);
      }
      const token = s._watchStatistics(seconds, listener);
      return () => {
        if (!s._unwatchStatistics(token) || s.destroyed) return Promise.resolve();
        // Recorded like the real call; its outcome does not matter to the caller (never rejects).
        return this.#run('SetStatisticsInterval', path, [0], () => undefined).catch(() => undefined);
      };
    });
  }

  /**
   * The services now (one recorded GetServices), then on every `setUplinks`; `[]` while the daemon
   * is stopped. A session's own watch (`forSession`) is not recorded and takes no injected failure.
   */
  watchServices(listener: ServicesListener, onError?: (error: NetsessionError) => void, options: WatchServicesOptions = {}): () => void {
    this.#watchers.add(listener);
    const first = options.forSession && !this.#closed ? Promise.resolve(this.#running ? this.#serviceList() : Object.freeze([])) : this.services();
    first.then(
      (list) => {
        if (this.#watchers.has(listener)) listener(list);
      },
      (err: unknown) => {
        if (this.#watchers.has(listener)) onError?.(err as NetsessionError);
      },
    );
    return () => {
      this.#watchers.delete(listener);
    };
  }

  /** Ends every live session (they are told the transport closed); later calls fail. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#watchers.clear();
      for (const s of this.liveSessions) s._lose(new SessionClosedError('transport-closed', 'the transport was closed'));
    }
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ internals

  #handle(s: MockSession): TransportSession {
    return {
      path: s.path,
      change: (key: RequestKey, value: unknown) =>
        this.#run('Change', s.path, [key, structuredClone(value)], () => {
          if (key === 'AvoidMetered' && !this.#capabilities?.includes('AvoidMetered')) throw this.#error('Change', errorName('InvalidArguments'), 'unknown setting AvoidMetered');
          try {
            this.#live('Change', s.path)._change(key, value);
          } catch (err) {
            if (err instanceof MockRejection) throw this.#error('Change', errorName('InvalidArguments'), err.message);
            throw err;
          }
        }),
      connect: () => this.#run('Connect', s.path, [], () => this.#live('Connect', s.path)._setActive(true)),
      disconnect: () => this.#run('Disconnect', s.path, [], () => this.#live('Disconnect', s.path)._setActive(false)),
      destroy: () => {
        // Like the D-Bus transport: the notifier stops at once, whatever the daemon answers.
        const live = !s.destroyed;
        s._destroy();
        return this.#run('Destroy', s.path, [], () => {
          if (!live) throw this.#error('Destroy', BUS_ERROR.unknownObject, `no session at ${s.path}`);
        });
      },
    };
  }

  /** Records the call, applies an injected failure or the daemon's absence, else runs `fn`. */
  #run<T>(method: MockMethod, path: string | null, args: unknown[], fn: () => T): Promise<T> {
    this.calls.push({ method, path, args });
    try {
      if (this.#closed) throw new SessionClosedError('transport-closed', 'the transport is closed');
      const injected = this.#failures.get(method)?.shift();
      if (injected) throw this.#error(method, injected.name, injected.message);
      if (!this.#running) throw this.#error(method, BUS_ERROR.serviceUnknown, 'The name net.connman was not provided by any .service files');
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #servicesChanged(): void {
    const list = this.#running ? this.#serviceList() : Object.freeze([]);
    for (const w of [...this.#watchers]) w(list);
  }

  #enabled(u: MockUplink): boolean {
    return !this.#offline && !this.#unpowered.has(u.bearer);
  }

  /** The uplinks sessions may bind to: none in OfflineMode, none of a technology switched off. */
  #enabledUplinks(): readonly MockUplink[] {
    return this.#uplinks.filter((u) => this.#enabled(u));
  }

  #serviceList(): readonly ServiceInfo[] {
    const status = this.#capabilities?.includes('ServiceStatus') ?? false;
    return Object.freeze(this.#uplinks.map((u) => serviceOf(u, this.#enabled(u), status)));
  }

  #uplinksChanged(): void {
    // Services first: a session applies its new uplink's properties with the Update that moves it.
    this.#servicesChanged();
    for (const s of this.sessions) s._uplinksChanged();
  }

  #rootOnly(method: MockMethod): void {
    if (this.#uid !== 0) throw this.#error(method, ROOT_ONLY, `only root may call ${method}`);
  }

  /** An extension method needs its capability (and any extension at all: `capabilities: null` is connmand). */
  #extension(method: MockMethod, capability: string): void {
    if (this.#capabilities === null || !this.#capabilities.includes(capability)) throw this.#error(method, BUS_ERROR.unknownMethod, `no ${method} here`);
  }

  #live(method: MockMethod, path: string): MockSession {
    const s = this.sessions.find((x) => x.path === path);
    if (!s || s.destroyed) throw this.#error(method, BUS_ERROR.unknownObject, `no session at ${path}`);
    return s;
  }

  #error(method: MockMethod, name: string, message: string): NetsessionError {
    return errorFromReply(name, message, TARGET[method]);
  }
}
