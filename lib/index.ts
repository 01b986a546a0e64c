/**
 * netsession: per-application network sessions for Linux.
 *
 * The SDK entry point: {@link createSession} and the {@link Session} it returns (with its bind
 * helpers: sockets, agents and `fetch` that leave through the session's uplink), the uplink
 * monitor ({@link monitorUplinks}), the daemon's Manager for tools ({@link getManager}), the
 * transports ({@link DBusTransport} for the system bus, {@link MockTransport} for tests, the
 * {@link Transport} seam for others), the error classes, and the wire types these speak in
 * (bearers, states, the settings of an Update). The D-Bus contract itself (names, paths,
 * signatures, keys) is the `netsession/protocol` entry point.
 *
 * @packageDocumentation
 */

export type {
  GlobalFetchDispatcher,
  SessionDispatcher,
  SessionDispatcherOptions,
  SessionFetchInput,
} from './bind/dispatcher.js';
export { type IpFamily, type SocketOptions, type SocketOptionsRequest, socketOptionsOf } from './bind/options.js';
export type {
  SessionConnectOptions,
  SessionDgramOptions,
  SessionResolverOptions,
  SessionTlsOptions,
} from './bind/sockets.js';
export { type CreateSessionOptions, createSession, DEFAULT_CREATE_TIMEOUT } from './create-session.js';
export { DBusTransport, type DBusTransportOptions } from './dbus/dbus-transport.js';
export type { WaitOptions } from './deadline.js';
export { getDefaultTransport, setDefaultTransport } from './default-transport.js';
export * from './errors.js';
export { getManager, Manager } from './manager.js';
export type {
  ManagerProperties,
  ManagerTransport,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  TechnologyInfo,
  WatchServicesOptions,
} from './manager-transport.js';
export {
  type MockCall,
  type MockMethod,
  MockSession,
  MockTransport,
  type MockTransportOptions,
  type MockUplink,
} from './mock/index.js';
export {
  monitorUplinks,
  UplinkMonitor,
  type UplinkMonitorEvents,
  type UplinkResult,
  type UplinkStatus,
} from './monitor/monitor.js';
export type { MonitorUplinksOptions } from './monitor/options.js';
export type { UplinkProbe } from './monitor/probes.js';
export { type BearerOption, OPTION_KEYS, type SessionOptions } from './options.js';
export {
  BEARERS,
  type Bearer,
  CONNECTION_TYPES,
  type ConnectionType,
  type IPv4Settings,
  type IPv6Settings,
  type IpMethod,
  isValidInterfaceName,
  type ManagerState,
  type RequestKey,
  type ServiceState,
  type SessionSettings,
  type SessionState,
} from './protocol.js';
export { Session } from './session.js';
export type { PersistentOptions, SessionEvents, UpdatesOptions, WaitCondition } from './session-events.js';
export type { IPv4Info, IPv6Info, SessionInfo, SessionUpdate } from './settings.js';
export type {
  SessionExtensions,
  SessionNotifier,
  SessionRequest,
  SessionStatistics,
  SessionTransport,
  Transport,
  TransportSession,
} from './transport.js';
export type { UplinkProperties } from './uplink-props.js';
