/**
 * Signal watch: the daemon's services, kept current from `Manager.ServicesChanged`, each
 * service's `PropertyChanged` (connmand tells later Nameservers and Roaming only so) and
 * netsessiond's `ServiceStatusChanged`. Every session watches (for its uplink's properties), so a
 * list kept current by the signals is handed to a new watcher without a new read; a broken watch
 * shows no services and tries again every second.
 */
import type { NetsessionError } from '../errors.js';
import type { ServicesListener } from '../manager-transport.js';
import {
  INTERFACES,
  METHODS,
  NETSESSION_MANAGER_INTERFACE,
  NETSESSION_METHODS,
  NETSESSION_SIGNATURES,
  PATHS,
  SIGNATURES,
} from '../protocol.js';
import type { ServiceStatusDict } from '../uplink-props.js';
import type { BusLink, DBusMessage } from './bus-link.js';
import { type DaemonCalls, SERVICE_STATUS } from './calls.js';
import { applyServiceProperty, decodeServiceList, type ServiceProps, toServiceInfo } from './codec.js';
import { deliver } from './deliver.js';

/** How long a broken service watch waits before it tries the bus again. */
const SERVICE_WATCH_RETRY_MS = 1_000;

interface Watcher {
  listener: ServicesListener;
  onError: ((error: NetsessionError) => void) | undefined;
}

/** What the watch needs of its transport. */
export interface ServiceWatchHost {
  readonly busName: string;
  readonly calls: DaemonCalls;
  /** The transport's link (connecting if need be). */
  connect(): Promise<BusLink>;
  /** True once the transport was closed. */
  isClosed(): boolean;
}

/** The service watch of one transport. */
export class ServiceWatch {
  readonly #host: ServiceWatchHost;
  /** The daemon's services as last read (null: not known). */
  #list: Array<[string, ServiceProps]> | null = null;
  /** netsessiond's status dict per service path (empty from a daemon without `ServiceStatus`). */
  #status = new Map<string, ServiceStatusDict>();
  /** The link on which ServiceStatusChanged is subscribed. */
  #statusLink: BusLink | null = null;
  readonly #watchers = new Set<Watcher>();
  /** The link on which ServicesChanged is subscribed. */
  #watchedLink: BusLink | null = null;
  #arming: Promise<void> | null = null;
  #rearm = false;
  #retry: NodeJS.Timeout | null = null;

  constructor(host: ServiceWatchHost) {
    this.#host = host;
  }

  /** See `Transport.watchServices`. */
  watch(listener: ServicesListener, onError?: (error: NetsessionError) => void): () => void {
    const w: Watcher = { listener, onError };
    this.#watchers.add(w);
    const known = this.#list;
    // A list kept current by the signals needs no new read (every session watches: creating one
    // must not cost a GetServices, nor a delivery to every other session).
    if (known && this.#watchedLink) queueMicrotask(() => this.#watchers.has(w) && this.#deliverTo(w, known));
    else this.#arm();
    return () => {
      this.#watchers.delete(w);
      if (this.#watchers.size > 0) return;
      // The list stays, kept current by the signals while the link lives: the next session's
      // watch (sessions come and go) then costs no read.
      this.#stopRetry();
    };
  }

  /** The transport closes: nobody listens any more. */
  close(): void {
    this.#watchers.clear();
    this.#stopRetry();
  }

  /** The daemon's name has a new owner (`null`: none). */
  ownerChanged(current: string | null): void {
    if (this.#watchers.size === 0) {
      // Nobody follows the new daemon's services: the next watch reads them.
      this.#list = null;
      return;
    }
    if (current === null) this.#set([]);
    else this.#arm();
  }

  /** The watch broke (bus gone, call failed): tell, show no services, try again later. */
  lost(err: NetsessionError): void {
    this.#watchedLink = null;
    if (this.#watchers.size === 0) {
      this.#list = null;
      return;
    }
    const hadServices = (this.#list?.length ?? 0) > 0;
    this.#list = [];
    for (const w of [...this.#watchers]) {
      if (w.onError) deliver(() => w.onError!(err));
      if (hadServices) this.#deliverTo(w, []);
    }
    if (this.#retry || this.#host.isClosed()) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#arm();
    }, SERVICE_WATCH_RETRY_MS);
    this.#retry.unref();
  }

  /**
   * ServicesChanged(changed, removed) (`changed` is the whole order, with properties only for
   * services that changed), a service's PropertyChanged, or ServiceStatusChanged; false for any other signal.
   */
  onSignal(msg: DBusMessage): boolean {
    if (
      msg.interface === NETSESSION_MANAGER_INTERFACE &&
      msg.member === NETSESSION_METHODS.managerSignals.ServiceStatusChanged
    ) {
      if (msg.signature !== NETSESSION_SIGNATURES.ServiceStatusChanged || !this.#list) return true;
      for (const [path, status] of decodeServiceList(msg.body[0])) this.#status.set(path, status);
      this.#set(this.#list);
      return true;
    }
    if (msg.interface === INTERFACES.service && msg.member === METHODS.managerSignals.PropertyChanged) {
      const next = this.#list ? applyServiceProperty(this.#list, msg.path, msg.signature, msg.body) : null;
      if (next) this.#set(next);
      return true;
    }
    if (
      msg.path !== PATHS.manager ||
      msg.interface !== INTERFACES.manager ||
      msg.member !== METHODS.managerSignals.ServicesChanged
    )
      return false;
    if (msg.signature !== SIGNATURES.ServicesChanged || !this.#list) return true;
    const [changed, removed] = msg.body as [unknown, unknown];
    const known = new Map(this.#list);
    for (const p of Array.isArray(removed) ? removed : []) known.delete(p as string);
    const next: Array<[string, ServiceProps]> = [];
    for (const [path, props] of decodeServiceList(changed)) next.push([path, { ...known.get(path), ...props }]);
    this.#set(next);
    return true;
  }

  #stopRetry(): void {
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
  }

  /** Subscribes to ServicesChanged on the current link (once per link) and reads the list. */
  #arm(): void {
    if (this.#watchers.size === 0 || this.#host.isClosed()) return;
    // A change while a read is under way may not be in what it reads: read again after it.
    if (this.#arming) {
      this.#rearm = true;
      return;
    }
    this.#rearm = false;
    this.#arming = this.#read()
      .catch((err: unknown) => this.lost(err as NetsessionError))
      .finally(() => {
        this.#arming = null;
        if (this.#rearm) this.#arm();
      });
  }

  async #read(): Promise<void> {
    const { busName, calls } = this.#host;
    const link = await this.#host.connect();
    if (this.#watchedLink !== link) {
      await link.addMatch(
        `type='signal',sender='${busName}',path='${PATHS.manager}',interface='${INTERFACES.manager}',member='${METHODS.managerSignals.ServicesChanged}'`,
      );
      // connmand tells a service's later Nameservers (and Roaming) with PropertyChanged only.
      await link.addMatch(
        `type='signal',sender='${busName}',interface='${INTERFACES.service}',member='${METHODS.managerSignals.PropertyChanged}',path_namespace='${PATHS.servicePrefix.slice(0, -1)}'`,
      );
      this.#watchedLink = link;
    }
    // A daemon that is not on the bus has no services (and the owner change will bring them).
    const list = link.owner === null ? [] : await calls.serviceList(link);
    this.#status = link.owner === null ? new Map() : await this.#subscribedStatus(link);
    this.#set(list);
  }

  /** netsessiond's GetServiceStatus, subscribing to its changes first; empty from a daemon without it. */
  async #subscribedStatus(link: BusLink): Promise<Map<string, ServiceStatusDict>> {
    const { busName, calls } = this.#host;
    if (!(await calls.capabilities(link)).includes(SERVICE_STATUS)) return new Map();
    if (this.#statusLink !== link) {
      const S = NETSESSION_METHODS.managerSignals;
      await link.addMatch(
        `type='signal',sender='${busName}',path='${PATHS.manager}',interface='${NETSESSION_MANAGER_INTERFACE}',member='${S.ServiceStatusChanged}'`,
      );
      this.#statusLink = link;
    }
    return calls.serviceStatus(link);
  }

  #set(list: Array<[string, ServiceProps]>): void {
    this.#list = list;
    for (const w of [...this.#watchers]) this.#deliverTo(w, list);
  }

  #deliverTo(w: Watcher, list: Array<[string, ServiceProps]>): void {
    const services = Object.freeze(list.map(([path, props]) => toServiceInfo(path, props, this.#status.get(path))));
    deliver(() => w.listener(services));
  }
}
