/**
 * The daemon as a whole, for tools and administrators (netsessionctl is built on it): the
 * Manager's properties, OfflineMode, technologies and their Powered switch, services, and
 * netsessiond's session listing and per-session statistics. Apps need none of this: a session is
 * all they ask for.
 */
import { getDefaultTransport, isTransport } from './default-transport.js';
import { ExtensionNotSupportedError, InvalidOptionError, type NetsessionError } from './errors.js';
import type {
  ManagerProperties,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  TechnologyInfo,
} from './manager-transport.js';
import { PATHS } from './protocol.js';
import type { SessionStatistics, Transport } from './transport.js';

type Optional =
  | 'services'
  | 'watchServices'
  | 'managerProperties'
  | 'setOfflineMode'
  | 'technologies'
  | 'setTechnologyPowered'
  | 'listSessions'
  | 'connectService'
  | 'disconnectService'
  | 'setServiceAutoConnect';

/**
 * The daemon's Manager, through one transport. Made by {@link getManager}. Every call goes to the
 * daemon (nothing is cached); errors are the SDK's (`PermissionDeniedError` for a root-only call
 * made by someone else, `DaemonUnavailableError` without a daemon).
 */
export class Manager {
  readonly #t: Transport;

  private constructor(transport: Transport) {
    this.#t = transport;
  }

  /** @internal Use {@link getManager}. */
  static _create(transport: Transport): Manager {
    return new Manager(transport);
  }

  /** The transport it talks through. */
  get transport(): Transport {
    return this.#t;
  }

  /** `Manager.GetProperties`: the global state and OfflineMode. */
  properties(): Promise<ManagerProperties> {
    return this.#need('managerProperties').then((t) => t.managerProperties!());
  }

  /** Turns OfflineMode on (every technology off, every session disconnected) or off. Root only. */
  setOfflineMode(offline: boolean): Promise<void> {
    if (typeof offline !== 'boolean') return Promise.reject(new InvalidOptionError('offline', 'must be a boolean'));
    return this.#need('setOfflineMode').then((t) => t.setOfflineMode!(offline));
  }

  /** `Manager.GetTechnologies`: one per bearer that has a service. */
  technologies(): Promise<readonly TechnologyInfo[]> {
    return this.#need('technologies').then((t) => t.technologies!());
  }

  /**
   * Powers technology `type` (`ethernet`, `wifi`, …) on or off; off takes its services idle. Root
   * only. Rejects like ConnMan: `AlreadyEnabledError` / `AlreadyDisabledError` when it already is,
   * a daemon error when there is no such technology.
   */
  setPowered(type: string, powered: boolean): Promise<void> {
    if (typeof type !== 'string' || type === '')
      return Promise.reject(new InvalidOptionError('type', 'must be a technology type such as ethernet'));
    if (typeof powered !== 'boolean') return Promise.reject(new InvalidOptionError('powered', 'must be a boolean'));
    return this.#need('setTechnologyPowered').then((t) => t.setTechnologyPowered!(type, powered));
  }

  /**
   * @internal For netsessionctl (not part of the SDK's API yet). `Service.Connect` on the service
   * at `path`: netsessiond brings a managed link up. Root only. Rejects like the daemon:
   * `AlreadyConnectedError`, `NotSupportedError` for an observed link.
   */
  connectService(path: string): Promise<void> {
    if (!isServicePath(path)) return Promise.reject(new InvalidOptionError('path', 'must be a service object path'));
    return this.#need('connectService').then((t) => t.connectService!(path));
  }

  /** @internal For netsessionctl. `Service.Disconnect`; `NotConnectedReplyError` when it is not connected. */
  disconnectService(path: string): Promise<void> {
    if (!isServicePath(path)) return Promise.reject(new InvalidOptionError('path', 'must be a service object path'));
    return this.#need('disconnectService').then((t) => t.disconnectService!(path));
  }

  /** @internal For netsessionctl. `Service.SetProperty('AutoConnect', b)` (netsessiond persists it). Root only. */
  setServiceAutoConnect(path: string, autoConnect: boolean): Promise<void> {
    if (!isServicePath(path)) return Promise.reject(new InvalidOptionError('path', 'must be a service object path'));
    if (typeof autoConnect !== 'boolean')
      return Promise.reject(new InvalidOptionError('autoConnect', 'must be a boolean'));
    return this.#need('setServiceAutoConnect').then((t) => t.setServiceAutoConnect!(path, autoConnect));
  }

  /** `Manager.GetServices`: the daemon's services, in its order. */
  services(): Promise<readonly ServiceInfo[]> {
    return this.#need('services').then((t) => t.services!());
  }

  /**
   * The services now and on every change (see `Transport.watchServices`). Returns the function
   * that stops watching. Throws {@link InvalidOptionError} when the transport cannot watch.
   */
  watchServices(listener: ServicesListener, onError?: (error: NetsessionError) => void): () => void {
    if (typeof this.#t.watchServices !== 'function') throw missing('watchServices');
    return this.#t.watchServices(listener, onError);
  }

  /**
   * Every session of every client, with owner, uid, settings, bound service and byte counts
   * (netsessiond's `ListSessions`). Root only. Rejects with {@link ExtensionNotSupportedError}
   * against a daemon without netsession's extensions (a real connmand).
   */
  sessions(): Promise<readonly SessionListEntry[]> {
    return this.#need('listSessions').then((t) => t.listSessions!());
  }

  /**
   * The counters of any session by its object path (its owner or root may read them). Rejects
   * with {@link ExtensionNotSupportedError} when the daemon lacks the `Statistics` capability.
   */
  async statistics(path: string): Promise<SessionStatistics> {
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new InvalidOptionError('path', 'must be a session object path');
    const caps = await this.#t.capabilities();
    const read = this.#t.statistics;
    if (!caps.includes('Statistics') || typeof read !== 'function') throw new ExtensionNotSupportedError('Statistics');
    return read.call(this.#t, path);
  }

  /** The daemon's extension capabilities (`[]` for a real connmand). */
  capabilities(): Promise<readonly string[]> {
    return this.#t.capabilities();
  }

  #need(method: Optional): Promise<Transport> {
    return typeof this.#t[method] === 'function' ? Promise.resolve(this.#t) : Promise.reject(missing(method));
  }
}

function isServicePath(path: unknown): path is string {
  return typeof path === 'string' && path.startsWith(PATHS.servicePrefix) && path.length > PATHS.servicePrefix.length;
}

function missing(method: string): InvalidOptionError {
  return new InvalidOptionError('transport', `must implement ${method} for this call`);
}

/**
 * The daemon's {@link Manager} through `transport` (default: {@link getDefaultTransport}, the
 * system bus). Cheap: make one whenever you need it.
 *
 * @example
 * const manager = getManager();
 * console.log((await manager.properties()).state);          // 'online'
 * await manager.setPowered('wifi', false);                   // root only
 */
export function getManager(transport?: Transport): Manager {
  if (transport !== undefined && !isTransport(transport)) {
    throw new InvalidOptionError('transport', 'must implement createSession, capabilities and close');
  }
  return Manager._create(transport ?? getDefaultTransport());
}
