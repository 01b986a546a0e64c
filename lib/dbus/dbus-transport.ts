/**
 * The {@link Transport} over D-Bus: ConnMan's Session API on the system bus, spoken to
 * netsessiond or to a real connmand. One bus connection per transport, shared by its sessions.
 * This file only puts the parts together, one per direction: outgoing calls (calls.ts), incoming
 * Notification calls (notifier.ts), signal watches (service-watch.ts, statistics-watch.ts) and
 * the daemon's owner (name-owner.ts, through bus-link.ts).
 */
import { DaemonUnavailableError, type NetsessionError, SessionClosedError } from '../errors.js';
import type {
  ManagerProperties,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  TechnologyInfo,
} from '../manager-transport.js';
import { BUS_NAME, METHODS, SIGNATURES } from '../protocol.js';
import type { SessionNotifier, SessionRequest, SessionStatistics, Transport, TransportSession } from '../transport.js';
import { BusLink, DEFAULT_SYSTEM_BUS } from './bus-link.js';
import { checkServicePath, checkTechnologyType, DaemonCalls } from './calls.js';
import { Variant } from './message.js';
import { Notifiers } from './notifier.js';
import { ServiceWatch } from './service-watch.js';
import { SessionLinks } from './session-link.js';
import { StatisticsWatches } from './statistics-watch.js';

/** Options of {@link DBusTransport}. */
export interface DBusTransportOptions {
  /** Bus address. Default: `DBUS_SYSTEM_BUS_ADDRESS`, else `unix:path=/var/run/dbus/system_bus_socket`. */
  busAddress?: string;
  /** The daemon's well-known name. Default `net.connman`. */
  busName?: string;
  /** Milliseconds for connecting to the bus and for each D-Bus call. Default 25 000. */
  callTimeout?: number;
  /**
   * Use the daemon's private socket for sessions when it offers one (netsessiond's
   * `PeerSocket`; connmand has none). Default true; false keeps every call on the bus.
   */
  peer?: boolean;
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
  readonly #calls: DaemonCalls;
  readonly #stats: StatisticsWatches;
  readonly #notifiers: Notifiers;
  readonly #services: ServiceWatch;
  readonly #sessions: SessionLinks;
  #link: Promise<BusLink> | null = null;
  #closed = false;

  constructor(options: DBusTransportOptions = {}) {
    this.#address = options.busAddress || process.env.DBUS_SYSTEM_BUS_ADDRESS || DEFAULT_SYSTEM_BUS;
    this.#busName = options.busName ?? BUS_NAME;
    this.#callTimeout = options.callTimeout ?? 25_000;
    this.#calls = new DaemonCalls(this.#busName);
    this.#stats = new StatisticsWatches(this.#calls, this.#busName);
    this.#notifiers = new Notifiers((path) => this.#stats.drop(path));
    this.#sessions = new SessionLinks(
      this.#calls,
      this.#callTimeout,
      {
        closed: (err) => {
          // The daemon dropped us or died: its sessions with us are gone (the bus may say so later).
          this.#sessions.reset();
          this.#loseAll(
            new DaemonUnavailableError('daemon-left', `${this.#busName}'s private connection closed`, { cause: err }),
          );
        },
        methodCall: (msg, l) => this.#notifiers.onMethodCall(msg, l),
        signal: (msg) => void this.#stats.onSignal(msg),
      },
      options.peer ?? true,
    );
    this.#services = new ServiceWatch({
      busName: this.#busName,
      calls: this.#calls,
      connect: () => this.#connect(),
      isClosed: () => this.#closed,
    });
  }

  /** The bus address this transport connects to. */
  get busAddress(): string {
    return this.#address;
  }

  async createSession(settings: SessionRequest, notifier: SessionNotifier): Promise<TransportSession> {
    const link = await this.#sessionLink();
    // Registered before the call: the first Update may be read in the same tick as the reply.
    const notifierPath = this.#notifiers.add(notifier, link.hold());
    let path: string;
    try {
      path = await this.#calls.createSession(link, settings, notifierPath);
    } catch (err) {
      this.#notifiers.forget(notifierPath);
      throw err;
    }
    this.#notifiers.bind(notifierPath, path);
    return this.#calls.session(link, path, () => this.#notifiers.forget(notifierPath));
  }

  capabilities(): Promise<readonly string[]> {
    return this.#connect().then((link) => this.#calls.capabilities(link));
  }

  async statistics(path: string): Promise<SessionStatistics> {
    return this.#calls.statistics(await this.#sessionLink(), path);
  }

  /** See `Transport.watchStatistics`. */
  async watchStatistics(
    path: string,
    seconds: number,
    listener: (statistics: SessionStatistics) => void,
  ): Promise<() => Promise<void>> {
    return this.#stats.watch(await this.#sessionLink(), path, seconds, listener);
  }

  /** `org.netsession.Session1.GetPolicy` on the session at `path`: its policy group, or `null`. */
  async sessionPolicy(path: string): Promise<string | null> {
    return this.#calls.sessionPolicy(await this.#sessionLink(), path);
  }

  /** `org.netsession.Session1.ClaimCgroup(cgroup)` on the session at `path`; resolves once the daemon classifies the cgroup. */
  async claimCgroup(path: string, cgroup: string): Promise<void> {
    return this.#calls.claimCgroup(await this.#sessionLink(), path, cgroup);
  }

  /** `Manager.GetProperties`. */
  async managerProperties(): Promise<ManagerProperties> {
    return this.#calls.managerProperties(await this.#connect());
  }

  /** `Manager.SetProperty('OfflineMode', b)`. */
  async setOfflineMode(offline: boolean): Promise<void> {
    return this.#calls.setOfflineMode(await this.#connect(), offline);
  }

  /** `Manager.GetTechnologies`, in the daemon's order. */
  async technologies(): Promise<readonly TechnologyInfo[]> {
    return this.#calls.technologies(await this.#connect());
  }

  /** `Technology.SetProperty('Powered', b)` on `/net/connman/technology/<type>`. */
  async setTechnologyPowered(type: string, powered: boolean): Promise<void> {
    checkTechnologyType(type);
    return this.#calls.setTechnologyPowered(await this.#connect(), type, powered);
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
    return this.#callService(path, METHODS.technology.SetProperty, SIGNATURES.SetProperty.in, [
      'AutoConnect',
      new Variant('b', autoConnect),
    ]);
  }

  async #callService(path: string, member: string, signature: string, body: unknown[]): Promise<void> {
    checkServicePath(path);
    return this.#calls.callService(await this.#connect(), path, member, signature, body);
  }

  /** `org.netsession.Manager1.ListSessions` (root only); {@link ExtensionNotSupportedError} from a real connmand. */
  async listSessions(): Promise<readonly SessionListEntry[]> {
    return this.#calls.listSessions(await this.#connect());
  }

  /** `Manager.GetServices`: the daemon's services, in its order. */
  async services(): Promise<readonly ServiceInfo[]> {
    return this.#calls.services(await this.#connect());
  }

  /**
   * The services now and on every `Manager.ServicesChanged` (an empty list while the daemon is
   * off the bus). A broken bus connection is reported to `onError` and retried every second.
   */
  watchServices(listener: ServicesListener, onError?: (error: NetsessionError) => void): () => void {
    return this.#services.watch(listener, onError);
  }

  /** Destroys every session still open (best effort), tells them, and disconnects. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#services.close();
    // Their match rules go with the connection.
    this.#stats.clear();
    const linkPromise = this.#link;
    this.#link = null;
    const link = linkPromise ? await linkPromise.catch(() => null) : null;
    this.#sessions.reset();
    this.#notifiers.loseAll(new SessionClosedError('transport-closed', 'the transport was closed'));
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
          this.#sessions.reset();
          if (previous !== null)
            this.#loseAll(new DaemonUnavailableError('daemon-left', `${this.#busName} left the bus`));
          this.#services.ownerChanged(current);
        },
        closed: (err) => {
          this.#link = null;
          this.#sessions.reset();
          this.#loseAll(err);
          this.#services.lost(err);
        },
        methodCall: (msg, l) => this.#notifiers.onMethodCall(msg, l),
        signal: (msg) => void (this.#stats.onSignal(msg) || this.#services.onSignal(msg)),
      },
    });
    this.#link = link;
    // A failed connect is not kept: the next call tries again.
    link.catch(() => {
      if (this.#link === link) this.#link = null;
    });
    return link;
  }

  /** The link sessions use: the daemon's private socket if it has one, else the bus. */
  async #sessionLink(): Promise<BusLink> {
    return this.#sessions.get(await this.#connect());
  }

  #loseAll(err: NetsessionError): void {
    this.#calls.forgetCapabilities();
    this.#stats.dropAll();
    this.#notifiers.loseAll(err);
  }
}
