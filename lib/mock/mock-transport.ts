/**
 * A scripted session daemon for unit tests of apps that use netsession (undici's MockAgent plays
 * this role there): no bus, no daemon, synchronous Updates, recorded calls, injected failures.
 * This file is the public face and the test's controls; the daemon's state and rules are in
 * mock-daemon.ts, its session role in mock-session-calls.ts, its manager role in mock-manager.ts.
 */
import { DaemonUnavailableError, type NetsessionError, SessionClosedError } from '../errors.js';
import type {
  ManagerProperties,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  TechnologyInfo,
  WatchServicesOptions,
} from '../manager-transport.js';
import { errorName } from '../protocol.js';
import type { SessionNotifier, SessionRequest, SessionStatistics, Transport, TransportSession } from '../transport.js';
import { type MockCall, MockDaemon, type MockMethod, type MockTransportOptions } from './mock-daemon.js';
import * as manager from './mock-manager.js';
import type { MockSession } from './mock-session.js';
import * as session from './mock-session-calls.js';
import type { MockUplink } from './uplink.js';

export type { MockCall, MockMethod, MockTransportOptions } from './mock-daemon.js';

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
  readonly calls: MockCall[];
  /** Every session created, in order (ended ones included: check `destroyed`). */
  readonly sessions: MockSession[];
  readonly #d: MockDaemon;

  constructor(options: MockTransportOptions = {}) {
    this.#d = new MockDaemon(options);
    this.calls = this.#d.calls;
    this.sessions = this.#d.sessions;
  }

  /** The current uplinks. */
  get uplinks(): readonly MockUplink[] {
    return this.#d.uplinks;
  }

  /** Replaces the uplinks (a link came or went, an online check changed): every live session is re-evaluated, one Update each. */
  setUplinks(uplinks: readonly MockUplink[]): void {
    this.#d.uplinks = Object.freeze([...uplinks]);
    this.#d.uplinksChanged();
  }

  /** The sessions that have not ended. */
  get liveSessions(): MockSession[] {
    return this.#d.liveSessions;
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
    this.#d.failNext(method, name, message);
  }

  /**
   * The daemon stops. With `release: true` it says goodbye first (each session gets Release, as
   * on SIGTERM); otherwise it just vanishes from the bus (each session is lost with a
   * DaemonUnavailableError). Until {@link MockTransport.startDaemon}, calls fail as with no daemon on the bus.
   */
  stopDaemon(options: { release?: boolean } = {}): void {
    this.#d.running = false;
    for (const s of this.liveSessions) {
      if (options.release) s.release();
      else s._lose(new DaemonUnavailableError('daemon-left', 'the session daemon left the bus'));
    }
    this.#d.servicesChanged();
  }

  /** The daemon is back on the bus (sessions that ended stay ended). */
  startDaemon(): void {
    this.#d.running = true;
    this.#d.servicesChanged();
  }

  // ------------------------------------------------------------------ the session role

  createSession(settings: SessionRequest, notifier: SessionNotifier): Promise<TransportSession> {
    return session.createSession(this.#d, settings, notifier);
  }

  capabilities(): Promise<readonly string[]> {
    return session.capabilities(this.#d);
  }

  statistics(path: string): Promise<SessionStatistics> {
    return session.statistics(this.#d, path);
  }

  /** GetPolicy (needs the `Policy` capability): the `policy` option's group, or null without one. */
  sessionPolicy(path: string): Promise<string | null> {
    return session.sessionPolicy(this.#d, path);
  }

  /** Records the claim on the session (`MockSession.cgroups`); a path that is not absolute and normalised is InvalidArguments. */
  claimCgroup(path: string, cgroup: string): Promise<void> {
    return session.claimCgroup(this.#d, path, cgroup);
  }

  /**
   * A recorded `SetStatisticsInterval(seconds)` (needs the `StatisticsSignal` capability; seconds
   * outside `STATISTICS_INTERVAL_LIMITS` are InvalidArguments). Nothing is sent by itself:
   * the test sends each signal with `mock.sessionFor(s).emitStatistics(...)`. The stop function
   * records `SetStatisticsInterval(0)` unless the session ended first.
   */
  watchStatistics(
    path: string,
    seconds: number,
    listener: (statistics: SessionStatistics) => void,
  ): Promise<() => Promise<void>> {
    return session.watchStatistics(this.#d, path, seconds, listener);
  }

  /** Ends every live session (they are told the transport closed); later calls fail. Idempotent. */
  close(): Promise<void> {
    if (!this.#d.closed) {
      this.#d.closed = true;
      this.#d.watchers.clear();
      for (const s of this.liveSessions)
        s._lose(new SessionClosedError('transport-closed', 'the transport was closed'));
    }
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ the manager role

  /** One service per uplink, in the uplinks' order (state `online`, `ready` for a `connected` uplink, `idle` while switched off). */
  services(): Promise<readonly ServiceInfo[]> {
    return manager.services(this.#d);
  }

  /** State from the uplinks sessions may use; `offline` in OfflineMode. */
  managerProperties(): Promise<ManagerProperties> {
    return manager.managerProperties(this.#d);
  }

  /** OfflineMode (root only): sessions lose their uplinks until it is off again. */
  setOfflineMode(offline: boolean): Promise<void> {
    return manager.setOfflineMode(this.#d, offline);
  }

  /** One technology per bearer of the uplinks, in order of first appearance. */
  technologies(): Promise<readonly TechnologyInfo[]> {
    return manager.technologies(this.#d);
  }

  /** Powered (root only): a technology switched off hides its uplinks from sessions. ConnMan's errors for no change. */
  setTechnologyPowered(type: string, powered: boolean): Promise<void> {
    return manager.setTechnologyPowered(this.#d, type, powered);
  }

  /** Every live session (root only; needs the `ListSessions` capability). Owner `:1.1`, uid as in the options. */
  listSessions(): Promise<readonly SessionListEntry[]> {
    return manager.listSessions(this.#d);
  }

  /**
   * The services now (one recorded GetServices), then on every `setUplinks`; `[]` while the daemon
   * is stopped. A session's own watch (`forSession`) is not recorded and takes no injected failure.
   */
  watchServices(
    listener: ServicesListener,
    onError?: (error: NetsessionError) => void,
    options: WatchServicesOptions = {},
  ): () => void {
    return manager.watchServices(this.#d, listener, onError, options);
  }
}
