/**
 * The {@link Transport} over D-Bus: ConnMan's Session API on the system bus, spoken to
 * netsessiond or to a real connmand. One bus connection per transport, shared by its sessions;
 * each session's `net.connman.Notification` is answered by the SDK itself at a notifier path of
 * its own (`/netsession/<pid>/s<n>`), as low-level method calls (no exported objects).
 */
import { BUS_NAME, INTERFACES, METHODS, NETSESSION_INTERFACE, NETSESSION_MANAGER_INTERFACE, NETSESSION_METHODS, NETSESSION_SIGNATURES, PATHS, SIGNATURES, type RequestKey } from './protocol.js';
import { DaemonUnavailableError, ExtensionNotSupportedError, InvalidOptionError, ProtocolError, SessionClosedError, type NetsessionError } from './errors.js';
import { BusLink, DEFAULT_SYSTEM_BUS, type DBusMessage } from './dbus/bus-link.js';
import {
  decodeManagerProps,
  decodePolicyGroup,
  decodeServiceList,
  decodeSessionList,
  decodeSettings,
  decodeStatistics,
  decodeTechnologyList,
  applyServiceProperty,
  encodeRequest,
  encodeSetting,
  toServiceInfo,
  type ServiceProps,
} from './dbus/codec.js';
import { Message, MessageFlag, MessageType, Variant } from './dbus/message.js';
import type { CallTarget } from './reply-errors.js';
import type { ServiceStatusDict } from './uplink-props.js';
import type {
  ManagerProperties,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  SessionNotifier,
  SessionRequest,
  SessionStatistics,
  TechnologyInfo,
  Transport,
  TransportSession,
} from './transport.js';

/** Options of {@link DBusTransport}. */
export interface DBusTransportOptions {
  /** Bus address. Default: `DBUS_SYSTEM_BUS_ADDRESS`, else `unix:path=/var/run/dbus/system_bus_socket`. */
  busAddress?: string;
  /** The daemon's well-known name. Default `net.connman`. */
  busName?: string;
  /** Milliseconds for connecting to the bus and for each D-Bus call. Default 25 000. */
  callTimeout?: number;
}

/** Where this process's notifier objects live (never a path the daemon could use itself). */
const NOTIFIER_ROOT = `/netsession/${process.pid}`;
const STATISTICS = 'Statistics';
const STATISTICS_SIGNAL = 'StatisticsSignal';
const SERVICE_STATUS = 'ServiceStatus';
const SESSION: CallTarget = { kind: 'session' };
const MANAGER: CallTarget = { kind: 'manager' };

/** `/net/connman/service/<id>`: what {@link DBusTransport.connectService} and its siblings accept. */
const SERVICE_PATH = new RegExp(`^${PATHS.servicePrefix}[A-Za-z0-9_]+$`);

/** How long a broken service watch waits before it tries the bus again. */
const SERVICE_WATCH_RETRY_MS = 1_000;

interface Watcher {
  listener: ServicesListener;
  onError: ((error: NetsessionError) => void) | undefined;
}

interface Entry {
  notifier: SessionNotifier;
  /** Releases the connection hold this live session takes. */
  unhold: () => void;
  /** The session's object path, once CreateSession answered. */
  path: string | null;
}

/** One {@link DBusTransport.watchStatistics}: who hears the session's signals, and the match rule that admits them. */
interface StatisticsWatch {
  listener: (statistics: SessionStatistics) => void;
  link: BusLink;
  rule: string;
  /** True once RemoveMatch was sent (or the rule never reached the bus): the bus counts identical rules, so only once. */
  unmatched: boolean;
}

/** Calls a notifier without letting an exception thrown by an app's listener unwind the bus dispatch. */
function deliver(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    // Same outcome as a throwing listener on any Node emitter: an uncaught exception.
    process.nextTick(() => {
      throw err;
    });
  }
}

/**
 * Talks to the session daemon over D-Bus. Connects lazily (on the first call) and reconnects
 * after the bus connection ended. The connection keeps the process alive only while a session
 * is open or a call is in flight.
 */
export class DBusTransport implements Transport {
  readonly #address: string;
  readonly #busName: string;
  readonly #callTimeout: number;
  #link: Promise<BusLink> | null = null;
  /** Live sessions by notifier path. */
  readonly #entries = new Map<string, Entry>();
  #counter = 0;
  #capabilities: { owner: string | null; value: Promise<readonly string[]> } | null = null;
  #closed = false;
  // The service watch: the daemon's services as last read (null: not known), who listens, and
  // the link on which ServicesChanged is subscribed.
  #serviceList: Array<[string, ServiceProps]> | null = null;
  /** netsessiond's status dict per service path (empty from a daemon without `ServiceStatus`). */
  #serviceStatus = new Map<string, ServiceStatusDict>();
  /** The link on which ServiceStatusChanged is subscribed. */
  #statusLink: BusLink | null = null;
  readonly #watchers = new Set<Watcher>();
  #watchedLink: BusLink | null = null;
  #arming: Promise<void> | null = null;
  #rearm = false;
  #retry: NodeJS.Timeout | null = null;
  /** Statistics watches by session path. */
  readonly #statsWatches = new Map<string, StatisticsWatch>();

  constructor(options: DBusTransportOptions = {}) {
    this.#address = options.busAddress || process.env.DBUS_SYSTEM_BUS_ADDRESS || DEFAULT_SYSTEM_BUS;
    this.#busName = options.busName ?? BUS_NAME;
    this.#callTimeout = options.callTimeout ?? 25_000;
  }

  /** The bus address this transport connects to. */
  get busAddress(): string {
    return this.#address;
  }

  async createSession(settings: SessionRequest, notifier: SessionNotifier): Promise<TransportSession> {
    const link = await this.#connect();
    const notifierPath = `${NOTIFIER_ROOT}/s${++this.#counter}`;
    // Registered before the call: the first Update may be read in the same tick as the reply.
    this.#entries.set(notifierPath, { notifier, unhold: link.hold(), path: null });
    let path: string;
    try {
      const reply = await link.call(this.#msg(PATHS.manager, INTERFACES.manager, METHODS.manager.CreateSession, SIGNATURES.CreateSession.in, [encodeRequest(settings), notifierPath]), MANAGER);
      path = reply.body[0] as string;
      if (typeof path !== 'string') throw new ProtocolError('CreateSession returned no object path');
    } catch (err) {
      this.#forget(notifierPath);
      throw err;
    }
    return this.#handle(link, notifierPath, path);
  }

  capabilities(): Promise<readonly string[]> {
    return this.#connect().then((link) => {
      const owner = link.owner;
      if (this.#capabilities?.owner === owner) return this.#capabilities.value;
      const target: CallTarget = { kind: 'extension', feature: 'Capabilities', onSession: false };
      const M = NETSESSION_METHODS.manager;
      const value = link.call(this.#msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, M.GetCapabilities, '', []), target).then(
        (reply) => Object.freeze([...((reply.body[0] as string[] | undefined) ?? [])]),
        (err: unknown) => {
          if (err instanceof ExtensionNotSupportedError) return Object.freeze([]) as readonly string[];
          // Never cache a failure.
          if (this.#capabilities?.value === value) this.#capabilities = null;
          throw err;
        },
      );
      this.#capabilities = { owner, value };
      return value;
    });
  }

  async statistics(path: string): Promise<SessionStatistics> {
    const link = await this.#connect();
    const target: CallTarget = { kind: 'extension', feature: STATISTICS, onSession: true };
    const reply = await link.call(this.#msg(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.GetStatistics, '', []), target);
    return decodeStatistics(reply.body[0]);
  }

  /**
   * `org.netsession.Session1.SetStatisticsInterval(seconds)` on the session at `path`, with a
   * match rule for its `Statistics` signals from the daemon; the stop function sets the interval
   * to 0 and removes the rule. The daemon sends the signals to this connection only.
   */
  async watchStatistics(path: string, seconds: number, listener: (statistics: SessionStatistics) => void): Promise<() => Promise<void>> {
    const link = await this.#connect();
    const owner = link.owner;
    if (owner === null) throw new DaemonUnavailableError('no-daemon', `${this.#busName} is not on the bus: is netsessiond (or connmand) running?`);
    const S = NETSESSION_METHODS.sessionSignals;
    const rule = `type='signal',sender='${owner}',path='${path}',interface='${NETSESSION_INTERFACE}',member='${S.Statistics}'`;
    const w: StatisticsWatch = { listener, link, rule, unmatched: true };
    // Registered before the call: the first signal may be read in the same tick as the reply.
    this.#statsWatches.set(path, w);
    try {
      await link.addMatch(rule);
      w.unmatched = false;
      const target: CallTarget = { kind: 'extension', feature: STATISTICS_SIGNAL, onSession: true };
      const M = NETSESSION_METHODS.session;
      await link.call(this.#msg(path, NETSESSION_INTERFACE, M.SetStatisticsInterval, NETSESSION_SIGNATURES.SetStatisticsInterval.in, [seconds]), target);
    } catch (err) {
      if (this.#statsWatches.get(path) === w) this.#statsWatches.delete(path);
      void this.#removeMatch(w);
      throw err;
    }
    return () => this.#unwatchStatistics(path, w);
  }

  /** `org.netsession.Session1.GetPolicy` on the session at `path`: its policy group, or `null`. */
  async sessionPolicy(path: string): Promise<string | null> {
    const link = await this.#connect();
    const target: CallTarget = { kind: 'extension', feature: 'Policy', onSession: true };
    const reply = await link.call(this.#msg(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.GetPolicy, '', []), target);
    return decodePolicyGroup(reply.body[0]);
  }

  /** `Manager.GetProperties`. */
  async managerProperties(): Promise<ManagerProperties> {
    const link = await this.#connect();
    const M = METHODS.manager;
    const reply = await link.call(this.#msg(PATHS.manager, INTERFACES.manager, M.GetProperties, SIGNATURES.GetProperties.in, []), MANAGER);
    return decodeManagerProps(reply.body[0]);
  }

  /** `Manager.SetProperty('OfflineMode', b)`. */
  async setOfflineMode(offline: boolean): Promise<void> {
    const link = await this.#connect();
    const body = ['OfflineMode', new Variant('b', offline)];
    await link.call(this.#msg(PATHS.manager, INTERFACES.manager, METHODS.manager.SetProperty, SIGNATURES.SetProperty.in, body), MANAGER);
  }

  /** `Manager.GetTechnologies`, in the daemon's order. */
  async technologies(): Promise<readonly TechnologyInfo[]> {
    const link = await this.#connect();
    const reply = await link.call(this.#msg(PATHS.manager, INTERFACES.manager, METHODS.manager.GetTechnologies, SIGNATURES.GetTechnologies.in, []), MANAGER);
    return Object.freeze(decodeTechnologyList(reply.body[0]));
  }

  /** `Technology.SetProperty('Powered', b)` on `/net/connman/technology/<type>`. */
  async setTechnologyPowered(type: string, powered: boolean): Promise<void> {
    // A type that cannot be a path element would fail in marshalling, far from the cause.
    if (!/^[A-Za-z0-9_]+$/.test(type)) throw new InvalidOptionError('type', `${JSON.stringify(type)} is not a technology type`);
    const link = await this.#connect();
    const body = ['Powered', new Variant('b', powered)];
    await link.call(this.#msg(`${PATHS.technologyPrefix}${type}`, INTERFACES.technology, METHODS.technology.SetProperty, SIGNATURES.SetProperty.in, body), MANAGER);
  }

  /** @internal `Service.Connect` on the service at `path`. */
  connectService(path: string): Promise<void> {
    return this.#callService(path, METHODS.service.Connect, '', []);
  }

  /** @internal `Service.Disconnect` on the service at `path`. */
  disconnectService(path: string): Promise<void> {
    return this.#callService(path, METHODS.service.Disconnect, '', []);
  }

  /** @internal `Service.SetProperty('AutoConnect', b)` on the service at `path`. */
  setServiceAutoConnect(path: string, autoConnect: boolean): Promise<void> {
    // Service has the same SetProperty(sv) as Technology and Manager (protocol.ts lists it under those).
    return this.#callService(path, METHODS.technology.SetProperty, SIGNATURES.SetProperty.in, ['AutoConnect', new Variant('b', autoConnect)]);
  }

  async #callService(path: string, member: string, signature: string, body: unknown[]): Promise<void> {
    // A path that is not a service's would fail in marshalling or reach another object.
    if (!SERVICE_PATH.test(path)) throw new InvalidOptionError('path', `${JSON.stringify(path)} is not a service object path`);
    const link = await this.#connect();
    await link.call(this.#msg(path, INTERFACES.service, member, signature, body), MANAGER);
  }

  /** `org.netsession.Manager1.ListSessions` (root only); {@link ExtensionNotSupportedError} from a real connmand. */
  async listSessions(): Promise<readonly SessionListEntry[]> {
    const link = await this.#connect();
    const target: CallTarget = { kind: 'extension', feature: 'ListSessions', onSession: false };
    const reply = await link.call(this.#msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, NETSESSION_METHODS.manager.ListSessions, '', []), target);
    return Object.freeze(decodeSessionList(reply.body[0]));
  }

  /** `org.netsession.Session1.ClaimCgroup(cgroup)` on the session at `path`; resolves once the daemon classifies the cgroup. */
  async claimCgroup(path: string, cgroup: string): Promise<void> {
    const link = await this.#connect();
    const target: CallTarget = { kind: 'extension', feature: 'ClaimCgroup', onSession: true };
    await link.call(this.#msg(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.ClaimCgroup, NETSESSION_SIGNATURES.ClaimCgroup.in, [cgroup]), target);
  }

  /** `Manager.GetServices`: the daemon's services, in its order. */
  async services(): Promise<readonly ServiceInfo[]> {
    const link = await this.#connect();
    const [list, status] = await Promise.all([this.#getServices(link), this.#readServiceStatus(link)]);
    return list.map(([path, props]) => toServiceInfo(path, props, status.get(path)));
  }

  /**
   * The services now and on every `Manager.ServicesChanged` (an empty list while the daemon is
   * off the bus). A broken bus connection is reported to `onError` and retried every second.
   */
  watchServices(listener: ServicesListener, onError?: (error: NetsessionError) => void): () => void {
    const w: Watcher = { listener, onError };
    this.#watchers.add(w);
    const known = this.#serviceList;
    // A list kept current by the signals needs no new read (every session watches: creating one
    // must not cost a GetServices, nor a delivery to every other session).
    if (known && this.#watchedLink) queueMicrotask(() => this.#watchers.has(w) && this.#deliverTo(w, known));
    else this.#armServiceWatch();
    return () => {
      this.#watchers.delete(w);
      if (this.#watchers.size > 0) return;
      // The list stays, kept current by the signals while the link lives: the next session's
      // watch (sessions come and go) then costs no read.
      if (this.#retry) clearTimeout(this.#retry);
      this.#retry = null;
    };
  }

  /** Destroys every session still open (best effort), tells them, and disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watchers.clear();
    // Their match rules go with the connection.
    this.#statsWatches.clear();
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const linkPromise = this.#link;
    this.#link = null;
    const link = linkPromise ? await linkPromise.catch(() => null) : null;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    const closedError = new SessionClosedError('transport-closed', 'the transport was closed');
    for (const e of entries) {
      e.unhold();
      deliver(() => e.notifier.lost(closedError));
    }
    // Leaving the bus ends them on the daemon's side: connmand and netsessiond both destroy the
    // sessions of a client that disconnects. One step, and it works with the daemon unreachable.
    link?.close();
  }

  #connect(): Promise<BusLink> {
    if (this.#closed) return Promise.reject(new SessionClosedError('transport-closed', 'the transport is closed'));
    if (this.#link) return this.#link;
    const link = BusLink.open({
      address: this.#address,
      busName: this.#busName,
      callTimeout: this.#callTimeout,
      events: {
        ownerChanged: (previous, current) => {
          // A daemon we may have sessions with is gone (or was replaced): they are gone with it.
          if (previous !== null) this.#loseAll(new DaemonUnavailableError('daemon-left', `${this.#busName} left the bus`));
          this.#servicesOwnerChanged(current);
        },
        closed: (err) => {
          this.#link = null;
          this.#loseAll(err);
          this.#servicesLost(err);
        },
        methodCall: (msg, l) => this.#onMethodCall(msg, l),
        signal: (msg) => this.#onSignal(msg),
      },
    });
    this.#link = link;
    // A failed connect is not kept: the next call tries again.
    link.catch(() => {
      if (this.#link === link) this.#link = null;
    });
    return link;
  }

  #handle(link: BusLink, notifierPath: string, path: string): TransportSession {
    const entry = this.#entries.get(notifierPath);
    if (entry) entry.path = path;
    const call = (member: string, signature = '', body: unknown[] = []): Promise<void> =>
      link.call(this.#msg(path, INTERFACES.session, member, signature, body), SESSION).then(() => undefined);
    const M = METHODS.session;
    return {
      path,
      change: (key: RequestKey, value: unknown) => call(M.Change, SIGNATURES.Change.in, [key, encodeSetting(key, value)]),
      connect: () => call(M.Connect),
      disconnect: () => call(M.Disconnect),
      destroy: () => {
        this.#forget(notifierPath);
        return call(M.Destroy);
      },
    };
  }

  #msg(path: string, iface: string, member: string, signature: string, body: unknown[]): DBusMessage {
    return new Message({ destination: this.#busName, path, interface: iface, member, signature, body });
  }

  #forget(notifierPath: string): Entry | undefined {
    const e = this.#entries.get(notifierPath);
    if (!e) return undefined;
    this.#entries.delete(notifierPath);
    e.unhold();
    if (e.path !== null) this.#dropStatistics(e.path);
    return e;
  }

  #loseAll(err: NetsessionError): void {
    this.#capabilities = null;
    for (const path of [...this.#statsWatches.keys()]) this.#dropStatistics(path);
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) {
      e.unhold();
      deliver(() => e.notifier.lost(err));
    }
  }

  // ------------------------------------------------------------------ statistics signals

  /** The stop function of a watch: interval 0 if it is still the path's watch, and its match rule removed. Never rejects. */
  async #unwatchStatistics(path: string, w: StatisticsWatch): Promise<void> {
    const current = this.#statsWatches.get(path) === w;
    if (current) this.#statsWatches.delete(path);
    if (!w.link.open) return;
    const stop = current
      ? w.link
          .call(this.#msg(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.SetStatisticsInterval, NETSESSION_SIGNATURES.SetStatisticsInterval.in, [0]), {
            kind: 'extension',
            feature: STATISTICS_SIGNAL,
            onSession: true,
          })
          // The session may have ended meanwhile: its signals ended with it.
          .catch(() => undefined)
      : undefined;
    await Promise.all([stop, this.#removeMatch(w)]);
  }

  /** The session ended: its watch goes (the daemon stopped the signals itself). */
  #dropStatistics(path: string): void {
    const w = this.#statsWatches.get(path);
    if (!w) return;
    this.#statsWatches.delete(path);
    void this.#removeMatch(w);
  }

  #removeMatch(w: StatisticsWatch): Promise<void> {
    if (w.unmatched || !w.link.open) return Promise.resolve();
    w.unmatched = true;
    return w.link.removeMatch(w.rule).catch(() => undefined);
  }

  // ------------------------------------------------------------------ the service watch

  async #getServices(link: BusLink): Promise<Array<[string, ServiceProps]>> {
    const reply = await link.call(this.#msg(PATHS.manager, INTERFACES.manager, METHODS.manager.GetServices, SIGNATURES.GetServices.in, []), MANAGER);
    return decodeServiceList(reply.body[0]);
  }

  /** Subscribes to ServicesChanged on the current link (once per link) and reads the list. */
  #armServiceWatch(): void {
    if (this.#watchers.size === 0 || this.#closed) return;
    // A change while a read is under way may not be in what it reads: read again after it.
    if (this.#arming) {
      this.#rearm = true;
      return;
    }
    this.#rearm = false;
    this.#arming = (async () => {
      const link = await this.#connect();
      if (this.#watchedLink !== link) {
        await link.addMatch(`type='signal',sender='${this.#busName}',path='${PATHS.manager}',interface='${INTERFACES.manager}',member='${METHODS.managerSignals.ServicesChanged}'`);
        // connmand tells a service's later Nameservers (and Roaming) with PropertyChanged only.
        await link.addMatch(`type='signal',sender='${this.#busName}',interface='${INTERFACES.service}',member='${METHODS.managerSignals.PropertyChanged}',path_namespace='${PATHS.servicePrefix.slice(0, -1)}'`);
        this.#watchedLink = link;
      }
      // A daemon that is not on the bus has no services (and the owner change will bring them).
      const list = link.owner === null ? [] : await this.#getServices(link);
      this.#serviceStatus = link.owner === null ? new Map() : await this.#getServiceStatus(link);
      this.#setServices(list);
    })()
      .catch((err: unknown) => this.#servicesLost(err as NetsessionError))
      .finally(() => {
        this.#arming = null;
        if (this.#rearm) this.#armServiceWatch();
      });
  }

  /** netsessiond's GetServiceStatus (subscribing to its changes first); empty from a daemon without it. */
  async #getServiceStatus(link: BusLink): Promise<Map<string, ServiceStatusDict>> {
    if (!(await this.capabilities()).includes(SERVICE_STATUS)) return new Map();
    if (this.#statusLink !== link) {
      const S = NETSESSION_METHODS.managerSignals;
      await link.addMatch(`type='signal',sender='${this.#busName}',path='${PATHS.manager}',interface='${NETSESSION_MANAGER_INTERFACE}',member='${S.ServiceStatusChanged}'`);
      this.#statusLink = link;
    }
    return this.#readServiceStatus(link);
  }

  /** GetServiceStatus alone (no subscription); empty from a daemon without it. */
  async #readServiceStatus(link: BusLink): Promise<Map<string, ServiceStatusDict>> {
    if (!(await this.capabilities()).includes(SERVICE_STATUS)) return new Map();
    const target: CallTarget = { kind: 'extension', feature: SERVICE_STATUS, onSession: false };
    const reply = await link.call(this.#msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, NETSESSION_METHODS.manager.GetServiceStatus, '', []), target);
    return new Map(decodeServiceList(reply.body[0]));
  }

  #setServices(list: Array<[string, ServiceProps]>): void {
    this.#serviceList = list;
    if (this.#watchers.size === 0) return;
    for (const w of [...this.#watchers]) this.#deliverTo(w, list);
  }

  #deliverTo(w: Watcher, list: Array<[string, ServiceProps]>): void {
    const services = Object.freeze(list.map(([path, props]) => toServiceInfo(path, props, this.#serviceStatus.get(path))));
    deliver(() => w.listener(services));
  }

  #servicesOwnerChanged(current: string | null): void {
    if (this.#watchers.size === 0) {
      // Nobody follows the new daemon's services: the next watch reads them.
      this.#serviceList = null;
      return;
    }
    if (current === null) this.#setServices([]);
    else this.#armServiceWatch();
  }

  /** The watch broke (bus gone, call failed): tell, show no services, try again later. */
  #servicesLost(err: NetsessionError): void {
    if (this.#watchers.size === 0) {
      this.#watchedLink = null;
      this.#serviceList = null;
      return;
    }
    this.#watchedLink = null;
    const hadServices = (this.#serviceList?.length ?? 0) > 0;
    this.#serviceList = [];
    for (const w of [...this.#watchers]) {
      if (w.onError) deliver(() => w.onError!(err));
      if (hadServices) this.#deliverTo(w, []);
    }
    if (this.#retry || this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#armServiceWatch();
    }, SERVICE_WATCH_RETRY_MS);
    this.#retry.unref();
  }

  /**
   * A session's `Statistics(a{sv})`, or ServicesChanged(changed, removed): `changed` is the whole
   * order, with properties only for services that changed.
   */
  #onSignal(msg: DBusMessage): void {
    if (msg.interface === NETSESSION_INTERFACE && msg.member === NETSESSION_METHODS.sessionSignals.Statistics) {
      const w = msg.signature === NETSESSION_SIGNATURES.Statistics ? this.#statsWatches.get(msg.path) : undefined;
      if (w) deliver(() => w.listener(decodeStatistics(msg.body[0])));
      return;
    }
    if (msg.interface === NETSESSION_MANAGER_INTERFACE && msg.member === NETSESSION_METHODS.managerSignals.ServiceStatusChanged) {
      if (msg.signature !== NETSESSION_SIGNATURES.ServiceStatusChanged || !this.#serviceList) return;
      for (const [path, status] of decodeServiceList(msg.body[0])) this.#serviceStatus.set(path, status);
      this.#setServices(this.#serviceList);
      return;
    }
    if (msg.interface === INTERFACES.service && msg.member === METHODS.managerSignals.PropertyChanged) {
      const next = this.#serviceList ? applyServiceProperty(this.#serviceList, msg.path, msg.signature, msg.body) : null;
      if (next) this.#setServices(next);
      return;
    }
    if (msg.path !== PATHS.manager || msg.interface !== INTERFACES.manager || msg.member !== METHODS.managerSignals.ServicesChanged) return;
    if (msg.signature !== SIGNATURES.ServicesChanged || !this.#serviceList) return;
    const [changed, removed] = msg.body as [unknown, unknown];
    const known = new Map(this.#serviceList);
    for (const p of Array.isArray(removed) ? removed : []) known.delete(p as string);
    const next: Array<[string, ServiceProps]> = [];
    for (const [path, props] of decodeServiceList(changed)) next.push([path, { ...known.get(path), ...props }]);
    this.#setServices(next);
  }

  /** `net.connman.Notification` calls to our notifier paths; false lets the connection answer the rest (Peer, UnknownMethod). */
  #onMethodCall(msg: DBusMessage, link: BusLink): boolean {
    if (msg.type !== MessageType.METHOD_CALL || msg.interface !== INTERFACES.notification || !msg.path.startsWith(`${NOTIFIER_ROOT}/`)) return false;
    const expectsReply = !(msg.flags & MessageFlag.NO_REPLY_EXPECTED);
    const reply = (m: DBusMessage): void => {
      if (expectsReply) link.send(m);
    };
    const owner = link.owner;
    // Only the daemon may drive our sessions; anyone else on the bus could otherwise fake an uplink.
    if (owner !== null && msg.sender !== owner) {
      reply(Message.newError(msg, 'org.freedesktop.DBus.Error.AccessDenied', 'only the session daemon may call this notifier'));
      return true;
    }
    const N = METHODS.notification;
    const known = (msg.member === N.Update && msg.signature === SIGNATURES.Update.in) || (msg.member === N.Release && msg.signature === '');
    if (!known) {
      reply(Message.newError(msg, 'org.freedesktop.DBus.Error.UnknownMethod', `no method ${msg.member}(${msg.signature}) on ${INTERFACES.notification}`));
      return true;
    }
    // Answer first: a listener that throws must not cost the daemon its reply.
    reply(Message.newMethodReturn(msg, '', []));
    // A late Update for a destroyed session is acknowledged and ignored.
    if (msg.member === N.Update) {
      const e = this.#entries.get(msg.path);
      if (e) deliver(() => e.notifier.update(decodeSettings(msg.body[0])));
    } else {
      const e = this.#forget(msg.path);
      if (e) deliver(() => e.notifier.release());
    }
    return true;
  }
}
