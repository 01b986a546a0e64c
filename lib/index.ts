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
export * from './errors.js';
export { createSession, DEFAULT_CREATE_TIMEOUT, type CreateSessionOptions } from './create-session.js';
export { Session } from './session.js';
export type { PersistentOptions, SessionEvents, UpdatesOptions, WaitCondition } from './session-events.js';
export { socketOptionsOf, type IpFamily, type SocketOptions, type SocketOptionsRequest } from './bind/options.js';
export type { SessionConnectOptions, SessionDgramOptions, SessionResolverOptions, SessionTlsOptions } from './bind/sockets.js';
export type { GlobalFetchDispatcher, SessionDispatcher, SessionDispatcherOptions, SessionFetchInput } from './bind/dispatcher.js';
export { UplinkMonitor, monitorUplinks, type UplinkMonitorEvents, type UplinkResult, type UplinkStatus } from './monitor/monitor.js';
export type { MonitorUplinksOptions } from './monitor/options.js';
export type { UplinkProbe } from './monitor/probes.js';
export type { SessionInfo, SessionUpdate, IPv4Info, IPv6Info } from './settings.js';
export type { UplinkProperties } from './uplink-props.js';
export { OPTION_KEYS, type BearerOption, type SessionOptions } from './options.js';
export type { WaitOptions } from './deadline.js';
export {
  BEARERS,
  CONNECTION_TYPES,
  isValidInterfaceName,
  type Bearer,
  type ConnectionType,
  type IPv4Settings,
  type IPv6Settings,
  type IpMethod,
  type ManagerState,
  type RequestKey,
  type ServiceState,
  type SessionSettings,
  type SessionState,
} from './protocol.js';
export type { SessionExtensions, SessionNotifier, SessionRequest, SessionStatistics, SessionTransport, Transport, TransportSession } from './transport.js';
export type {
  ManagerProperties,
  ManagerTransport,
  ServiceInfo,
  ServicesListener,
  SessionListEntry,
  TechnologyInfo,
  WatchServicesOptions,
} from './manager-transport.js';
export { Manager, getManager } from './manager.js';
export { DBusTransport, type DBusTransportOptions } from './dbus/dbus-transport.js';
export { getDefaultTransport, setDefaultTransport } from './default-transport.js';
export { MockSession, MockTransport, type MockCall, type MockMethod, type MockTransportOptions, type MockUplink } from './mock/index.js';
