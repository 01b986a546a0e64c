/**
 * Outgoing method calls of the D-Bus transport: every call the SDK makes to the daemon, each a
 * message to the daemon's name and its reply decoded into the SDK's values. Stateless but for the
 * capabilities, which are read once per daemon owner. Incoming calls (the notifier) and signal
 * watches are in their own files; {@link DBusTransport} puts them together.
 */
import { ExtensionNotSupportedError, InvalidOptionError, ProtocolError } from '../errors.js';
import type { ManagerProperties, ServiceInfo, SessionListEntry, TechnologyInfo } from '../manager-transport.js';
import {
  INTERFACES,
  METHODS,
  NETSESSION_INTERFACE,
  NETSESSION_MANAGER_INTERFACE,
  NETSESSION_METHODS,
  NETSESSION_SIGNATURES,
  PATHS,
  type RequestKey,
  SIGNATURES,
} from '../protocol.js';
import type { CallTarget } from '../reply-errors.js';
import type { SessionRequest, SessionStatistics, TransportSession } from '../transport.js';
import type { ServiceStatusDict } from '../uplink-props.js';
import type { BusLink, DBusMessage } from './bus-link.js';
import {
  decodeManagerProps,
  decodePolicyGroup,
  decodeServiceList,
  decodeSessionList,
  decodeStatistics,
  decodeTechnologyList,
  encodeRequest,
  encodeSetting,
  type ServiceProps,
  toServiceInfo,
} from './codec.js';
import { Message, Variant } from './message.js';

/** Capability of netsessiond's service status dicts (metered, captive portal). */
export const SERVICE_STATUS = 'ServiceStatus';
/** Capability of the daemon's private socket (GetPeerAddress). */
export const PEER_SOCKET = 'PeerSocket';
/** Capability of the `Statistics` signals. */
export const STATISTICS_SIGNAL = 'StatisticsSignal';

const SESSION: CallTarget = { kind: 'session' };
const MANAGER: CallTarget = { kind: 'manager' };
const extension = (feature: string, onSession: boolean): CallTarget => ({ kind: 'extension', feature, onSession });

/** `/net/connman/service/<id>`: what {@link DaemonCalls.callService} accepts. */
const SERVICE_PATH = new RegExp(`^${PATHS.servicePrefix}[A-Za-z0-9_]+$`);

/** The calls to one daemon name; each takes the link to call on. */
export class DaemonCalls {
  readonly #busName: string;
  #capabilities: { owner: string | null; value: Promise<readonly string[]> } | null = null;

  constructor(busName: string) {
    this.#busName = busName;
  }

  /** A method call to the daemon. */
  msg(path: string, iface: string, member: string, signature: string, body: unknown[]): DBusMessage {
    return new Message({ destination: this.#busName, path, interface: iface, member, signature, body });
  }

  /** `Manager.CreateSession(settings, notifierPath)`: the session's object path. */
  async createSession(link: BusLink, settings: SessionRequest, notifierPath: string): Promise<string> {
    const body = [encodeRequest(settings), notifierPath];
    const reply = await link.call(
      this.msg(PATHS.manager, INTERFACES.manager, METHODS.manager.CreateSession, SIGNATURES.CreateSession.in, body),
      MANAGER,
    );
    const path = reply.body[0];
    if (typeof path !== 'string') throw new ProtocolError('CreateSession returned no object path');
    return path;
  }

  /** `net.connman.Session`'s methods on the session at `path`; `ending` runs when Destroy is sent. */
  session(link: BusLink, path: string, ending: () => void): TransportSession {
    const call = (member: string, signature = '', body: unknown[] = []): Promise<void> =>
      link.call(this.msg(path, INTERFACES.session, member, signature, body), SESSION).then(() => undefined);
    const M = METHODS.session;
    return {
      path,
      change: (key: RequestKey, value: unknown) =>
        call(M.Change, SIGNATURES.Change.in, [key, encodeSetting(key, value)]),
      connect: () => call(M.Connect),
      disconnect: () => call(M.Disconnect),
      destroy: () => {
        ending();
        return call(M.Destroy);
      },
    };
  }

  /** `GetCapabilities`, read once per daemon owner (a failure is not kept); `[]` from a daemon without extensions. */
  capabilities(link: BusLink): Promise<readonly string[]> {
    const owner = link.owner;
    if (this.#capabilities?.owner === owner) return this.#capabilities.value;
    const M = NETSESSION_METHODS.manager;
    const value = link
      .call(
        this.msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, M.GetCapabilities, '', []),
        extension('Capabilities', false),
      )
      .then(
        (reply) => Object.freeze([...((reply.body[0] as string[] | undefined) ?? [])]),
        (err: unknown) => {
          if (err instanceof ExtensionNotSupportedError) return Object.freeze([]) as readonly string[];
          if (this.#capabilities?.value === value) this.#capabilities = null;
          throw err;
        },
      );
    this.#capabilities = { owner, value };
    return value;
  }

  /** `GetPeerAddress`: where the daemon's private socket is (capability `PeerSocket`). */
  async peerAddress(link: BusLink): Promise<string> {
    const M = NETSESSION_METHODS.manager;
    const reply = await link.call(
      this.msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, M.GetPeerAddress, '', []),
      extension(PEER_SOCKET, false),
    );
    const address = reply.body[0];
    if (typeof address !== 'string') throw new ProtocolError('GetPeerAddress returned no address');
    return address;
  }

  /** The daemon changed or left: its capabilities are read again. */
  forgetCapabilities(): void {
    this.#capabilities = null;
  }

  async statistics(link: BusLink, path: string): Promise<SessionStatistics> {
    const reply = await link.call(
      this.msg(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.GetStatistics, '', []),
      extension('Statistics', true),
    );
    return decodeStatistics(reply.body[0]);
  }

  /** `SetStatisticsInterval(seconds)` on the session at `path` (0 stops the signals). */
  async setStatisticsInterval(link: BusLink, path: string, seconds: number): Promise<void> {
    const M = NETSESSION_METHODS.session;
    await link.call(
      this.msg(path, NETSESSION_INTERFACE, M.SetStatisticsInterval, NETSESSION_SIGNATURES.SetStatisticsInterval.in, [
        seconds,
      ]),
      extension(STATISTICS_SIGNAL, true),
    );
  }

  async sessionPolicy(link: BusLink, path: string): Promise<string | null> {
    const reply = await link.call(
      this.msg(path, NETSESSION_INTERFACE, NETSESSION_METHODS.session.GetPolicy, '', []),
      extension('Policy', true),
    );
    return decodePolicyGroup(reply.body[0]);
  }

  async claimCgroup(link: BusLink, path: string, cgroup: string): Promise<void> {
    const M = NETSESSION_METHODS.session;
    await link.call(
      this.msg(path, NETSESSION_INTERFACE, M.ClaimCgroup, NETSESSION_SIGNATURES.ClaimCgroup.in, [cgroup]),
      extension('ClaimCgroup', true),
    );
  }

  async managerProperties(link: BusLink): Promise<ManagerProperties> {
    const reply = await link.call(
      this.msg(PATHS.manager, INTERFACES.manager, METHODS.manager.GetProperties, SIGNATURES.GetProperties.in, []),
      MANAGER,
    );
    return decodeManagerProps(reply.body[0]);
  }

  async setOfflineMode(link: BusLink, offline: boolean): Promise<void> {
    const body = ['OfflineMode', new Variant('b', offline)];
    await link.call(
      this.msg(PATHS.manager, INTERFACES.manager, METHODS.manager.SetProperty, SIGNATURES.SetProperty.in, body),
      MANAGER,
    );
  }

  async technologies(link: BusLink): Promise<readonly TechnologyInfo[]> {
    const reply = await link.call(
      this.msg(PATHS.manager, INTERFACES.manager, METHODS.manager.GetTechnologies, SIGNATURES.GetTechnologies.in, []),
      MANAGER,
    );
    return Object.freeze(decodeTechnologyList(reply.body[0]));
  }

  async setTechnologyPowered(link: BusLink, type: string, powered: boolean): Promise<void> {
    const body = ['Powered', new Variant('b', powered)];
    await link.call(
      this.msg(
        `${PATHS.technologyPrefix}${type}`,
        INTERFACES.technology,
        METHODS.technology.SetProperty,
        SIGNATURES.SetProperty.in,
        body,
      ),
      MANAGER,
    );
  }

  /** A `net.connman.Service` method on the service at `path`. */
  async callService(link: BusLink, path: string, member: string, signature: string, body: unknown[]): Promise<void> {
    await link.call(this.msg(path, INTERFACES.service, member, signature, body), MANAGER);
  }

  async listSessions(link: BusLink): Promise<readonly SessionListEntry[]> {
    const reply = await link.call(
      this.msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, NETSESSION_METHODS.manager.ListSessions, '', []),
      extension('ListSessions', false),
    );
    return Object.freeze(decodeSessionList(reply.body[0]));
  }

  /** `Manager.GetServices`, as path and raw properties. */
  async serviceList(link: BusLink): Promise<Array<[string, ServiceProps]>> {
    const reply = await link.call(
      this.msg(PATHS.manager, INTERFACES.manager, METHODS.manager.GetServices, SIGNATURES.GetServices.in, []),
      MANAGER,
    );
    return decodeServiceList(reply.body[0]);
  }

  /** netsessiond's GetServiceStatus; empty from a daemon without it. */
  async serviceStatus(link: BusLink): Promise<Map<string, ServiceStatusDict>> {
    if (!(await this.capabilities(link)).includes(SERVICE_STATUS)) return new Map();
    const reply = await link.call(
      this.msg(PATHS.manager, NETSESSION_MANAGER_INTERFACE, NETSESSION_METHODS.manager.GetServiceStatus, '', []),
      extension(SERVICE_STATUS, false),
    );
    return new Map(decodeServiceList(reply.body[0]));
  }

  /** The services with their status, in the daemon's order. */
  async services(link: BusLink): Promise<readonly ServiceInfo[]> {
    const [list, status] = await Promise.all([this.serviceList(link), this.serviceStatus(link)]);
    return list.map(([path, props]) => toServiceInfo(path, props, status.get(path)));
  }
}

/** Refuses a technology type that cannot be a path element (it would fail in marshalling, far from the cause). */
export function checkTechnologyType(type: string): void {
  if (!/^[A-Za-z0-9_]+$/.test(type))
    throw new InvalidOptionError('type', `${JSON.stringify(type)} is not a technology type`);
}

/** Refuses a path that is not a service's (it would fail in marshalling or reach another object). */
export function checkServicePath(path: string): void {
  if (!SERVICE_PATH.test(path))
    throw new InvalidOptionError('path', `${JSON.stringify(path)} is not a service object path`);
}
