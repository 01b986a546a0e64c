/**
 * The D-Bus contract shared by netsessiond and the SDK: bus and interface names, object paths,
 * method names, settings keys with their D-Bus signatures, error names, bearers and states.
 * Published as the `netsession/protocol` entry point (for tools that speak D-Bus themselves);
 * the main entry point re-exports only the types and lists an app needs.
 *
 * Everything here is ConnMan's wire format (`net.connman.*`), except what lives under
 * {@link NETSESSION_INTERFACE}, the extension interface that ConnMan clients never see.
 *
 * @packageDocumentation
 */

/** Well-known bus name owned by the daemon (ConnMan's). */
export const BUS_NAME = 'net.connman';

/** Object paths. Sessions live under `/sessions`, not under `/net/connman` (as in ConnMan). */
export const PATHS = {
  manager: '/',
  servicePrefix: '/net/connman/service/',
  technologyPrefix: '/net/connman/technology/',
  sessionPrefix: '/sessions',
} as const;

/** D-Bus interface names. */
export const INTERFACES = {
  manager: 'net.connman.Manager',
  service: 'net.connman.Service',
  technology: 'net.connman.Technology',
  session: 'net.connman.Session',
  notification: 'net.connman.Notification',
  counter: 'net.connman.Counter',
} as const;

/**
 * Our own interface, exported on the same objects as ConnMan's. Extensions (statistics,
 * session listing, capabilities) go here and never into ConnMan's messages, because strict
 * ConnMan clients reject unknown keys.
 */
export const NETSESSION_INTERFACE = 'org.netsession.Session1';
/** Extension interface on each Service object. */
export const NETSESSION_SERVICE_INTERFACE = 'org.netsession.Service1';
/** Extension interface on the Manager object. */
export const NETSESSION_MANAGER_INTERFACE = 'org.netsession.Manager1';

/** Method names of the extension interfaces. */
export const NETSESSION_METHODS = {
  /** On {@link NETSESSION_MANAGER_INTERFACE} (object `/`). */
  manager: {
    ListSessions: 'ListSessions',
    GetCapabilities: 'GetCapabilities',
    GetDefaultRoutes: 'GetDefaultRoutes',
    GetServiceStatus: 'GetServiceStatus',
    GetPeerAddress: 'GetPeerAddress',
  },
  /** Signals on {@link NETSESSION_MANAGER_INTERFACE} (object `/`). */
  managerSignals: { ServiceStatusChanged: 'ServiceStatusChanged' },
  /** On {@link NETSESSION_INTERFACE} (each session object). */
  session: {
    GetStatistics: 'GetStatistics',
    ResetStatistics: 'ResetStatistics',
    ClaimCgroup: 'ClaimCgroup',
    SetStatisticsInterval: 'SetStatisticsInterval',
    GetPolicy: 'GetPolicy',
  },
  /** On {@link NETSESSION_SERVICE_INTERFACE} (each service object). */
  service: { GetOnlineCheck: 'GetOnlineCheck' },
  /** Signals on {@link NETSESSION_INTERFACE} (each session object). */
  sessionSignals: { Statistics: 'Statistics' },
} as const;

/** D-Bus signatures of the extension methods. */
export const NETSESSION_SIGNATURES = {
  /** Root only: every session with its properties. */
  ListSessions: { in: '', out: 'a(oa{sv})' },
  GetCapabilities: { in: '', out: 'as' },
  /**
   * Manage mode: every main-table default route the daemon handled, with its gateway lifecycle
   * state as the kernel confirmed it: `{ Interface: s, Family: y (4|6), Gateway: s, Metric: u,
   * State: s (inactive|added|active|removed) }`. Empty when no interface is managed.
   */
  GetDefaultRoutes: { in: '', out: 'aa{sv}' },
  /**
   * Every service's status, keys {@link SERVICE_STATUS_KEYS}: what ConnMan's Service dict has no
   * key for (metered, captive portal; roaming as netsessiond knows it).
   */
  GetServiceStatus: { in: '', out: 'a(oa{sv})' },
  /**
   * The daemon's private socket (capability `PeerSocket`): a D-Bus address with the server's
   * GUID (`unix:path=…,guid=…`) where the same objects answer without the bus in between.
   */
  GetPeerAddress: { in: '', out: 's' },
  /** Signal: the complete status dicts of the services whose status changed. */
  ServiceStatusChanged: 'a(oa{sv})',
  /** Per family (`IPv4`, `IPv6`): `{ Online: b, Portal: s }` (Portal '' unless a captive portal answered). */
  GetOnlineCheck: { in: '', out: 'a{sv}' },
  /** Keys {@link STATISTICS_KEYS}, each a `t`. */
  GetStatistics: { in: '', out: 'a{sv}' },
  ResetStatistics: { in: '', out: '' },
  /**
   * Owner or root: the traffic of every process in the cgroup (a cgroupv2 path such as
   * `/netsession.run/4242`, absolute and normalised) belongs to the session from the reply on,
   * until the session ends. A non-root caller may claim only a cgroup directory it owns.
   */
  ClaimCgroup: { in: 's', out: '' },
  /**
   * Owner or root: `Statistics` signals for the session go to the caller every `seconds`
   * ({@link STATISTICS_INTERVAL_LIMITS}; 0 stops them), the first right after the reply, until
   * the session ends or the caller leaves the bus. Each caller has its own interval.
   */
  SetStatisticsInterval: { in: 'u', out: '' },
  /**
   * Owner or root: the policy that applies to the session, `{ Group: s }` (`file:group`, '' when
   * no policy group matches). Lets a client say which policy removed the bearers it asked for.
   */
  GetPolicy: { in: '', out: 'a{sv}' },
  /** Signal: the session's counters, the dict of `GetStatistics`, sent to one subscriber. */
  Statistics: 'a{sv}',
} as const;

/**
 * Keys of a service's status dict (`GetServiceStatus`, `ServiceStatusChanged`): `Metered` (b: the
 * uplink bills by volume; cellular by default, a provisioning file's `Metered` overrides),
 * `Roaming` (b), `CaptivePortal` (b: the online check met a captive portal on either family),
 * `PortalURL` (s: the portal's URL, '' when none or unknown).
 */
export const SERVICE_STATUS_KEYS = {
  metered: 'Metered',
  roaming: 'Roaming',
  captivePortal: 'CaptivePortal',
  portalUrl: 'PortalURL',
} as const;

/** Bounds of `SetStatisticsInterval`'s seconds. 0 stops the signals; any other value outside them is `InvalidArguments`. */
export const STATISTICS_INTERVAL_LIMITS = { min: 1, max: 3600 } as const;

/** Keys of the `GetStatistics` dict; every value is a `t` (uint64). */
export const STATISTICS_KEYS = {
  rxBytes: 'RX.Bytes',
  txBytes: 'TX.Bytes',
  rxPackets: 'RX.Packets',
  txPackets: 'TX.Packets',
} as const;

/** Method and signal names, per interface. */
export const METHODS = {
  manager: {
    GetProperties: 'GetProperties',
    SetProperty: 'SetProperty',
    GetServices: 'GetServices',
    GetTechnologies: 'GetTechnologies',
    CreateSession: 'CreateSession',
    DestroySession: 'DestroySession',
    RegisterCounter: 'RegisterCounter',
    UnregisterCounter: 'UnregisterCounter',
  },
  managerSignals: {
    PropertyChanged: 'PropertyChanged',
    ServicesChanged: 'ServicesChanged',
    TechnologyAdded: 'TechnologyAdded',
    TechnologyRemoved: 'TechnologyRemoved',
  },
  service: {
    GetProperties: 'GetProperties',
    Connect: 'Connect',
    Disconnect: 'Disconnect',
    ResetCounters: 'ResetCounters',
  },
  technology: { GetProperties: 'GetProperties', SetProperty: 'SetProperty' },
  session: { Destroy: 'Destroy', Connect: 'Connect', Disconnect: 'Disconnect', Change: 'Change' },
  notification: { Update: 'Update', Release: 'Release' },
  counter: { Usage: 'Usage', Release: 'Release' },
} as const;

/** D-Bus signatures of the methods both sides call. */
export const SIGNATURES = {
  CreateSession: { in: 'a{sv}o', out: 'o' },
  DestroySession: { in: 'o', out: '' },
  Change: { in: 'sv', out: '' },
  Update: { in: 'a{sv}', out: '' },
  GetProperties: { in: '', out: 'a{sv}' },
  SetProperty: { in: 'sv', out: '' },
  GetServices: { in: '', out: 'a(oa{sv})' },
  GetTechnologies: { in: '', out: 'a(oa{sv})' },
  PropertyChanged: 'sv',
  ServicesChanged: 'a(oa{sv})ao',
  TechnologyAdded: 'oa{sv}',
  TechnologyRemoved: 'o',
  RegisterCounter: { in: 'ouu', out: '' },
  UnregisterCounter: { in: 'o', out: '' },
  ResetCounters: { in: '', out: '' },
  Usage: { in: 'oa{sv}a{sv}', out: '' },
} as const;

/** Bearer names as ConnMan spells them on the wire. */
export const BEARERS = ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget', 'vpn'] as const;
/** A bearer (service type) name. */
export type Bearer = (typeof BEARERS)[number];

/**
 * What `*` in AllowedBearers expands to, in this order (ConnMan's `default_bearers[]`).
 * `vpn` is deliberately absent, as in ConnMan.
 */
export const DEFAULT_BEARERS: readonly Bearer[] = ['ethernet', 'wifi', 'bluetooth', 'cellular', 'gadget'];

/** Values of the session setting `ConnectionType`. */
export const CONNECTION_TYPES = ['any', 'local', 'internet'] as const;
/** Which services a session may use: any connected one, or only online ones (`internet`). */
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

/** Session `State` values, in increasing order. */
export const SESSION_STATES = ['disconnected', 'connected', 'online'] as const;
/** The state a session reports in `Update`. */
export type SessionState = (typeof SESSION_STATES)[number];

/** ConnMan service states. */
export const SERVICE_STATES = [
  'idle',
  'association',
  'configuration',
  'ready',
  'online',
  'disconnect',
  'failure',
] as const;
/** A service's state. */
export type ServiceState = (typeof SERVICE_STATES)[number];

/** Manager `State` values. */
export const MANAGER_STATES = ['offline', 'idle', 'ready', 'online'] as const;
/** The global connection state reported by the Manager. */
export type ManagerState = (typeof MANAGER_STATES)[number];

/** IPv4/IPv6 configuration methods reported in `IPv4.Method` / `IPv6.Method`. */
export type IpMethod = 'off' | 'fixed' | 'manual' | 'dhcp' | 'auto' | '6to4';

/**
 * Session settings keys, with the D-Bus signature of each. The order of this object is the
 * order of keys in the first Update (ConnMan's `append_notify`).
 */
export const SETTING_SIGNATURES = {
  State: 's',
  Name: 's',
  IPv4: 'a{sv}',
  IPv6: 'a{sv}',
  Interface: 's',
  Bearer: 's',
  ConnectionType: 's',
  AllowedBearers: 'as',
  AllowedInterface: 's',
  ContextIdentifier: 's',
  SourceIPRule: 'b',
} as const;
/** Every key an Update can carry. */
export type SettingKey = keyof typeof SETTING_SIGNATURES;
/** Update keys in wire order. */
export const SETTING_KEYS = Object.keys(SETTING_SIGNATURES) as SettingKey[];

/**
 * Keys a client may pass to CreateSession, with their signatures. `AvoidMetered` is netsessiond's
 * extension (capability `AvoidMetered`): a client sends it only to a daemon that lists that
 * capability (ConnMan rejects unknown keys), and no Update ever carries it.
 */
export const CREATE_SETTING_SIGNATURES = {
  AllowedBearers: 'as',
  ConnectionType: 's',
  AllowedInterface: 's',
  SourceIPRule: 'b',
  ContextIdentifier: 's',
  AvoidMetered: 'b',
} as const;
/** Request keys that are netsessiond's extensions, each with the capability that announces it. */
export const EXTENSION_REQUEST_KEYS = { AvoidMetered: 'AvoidMetered' } as const satisfies Partial<
  Record<keyof typeof CREATE_SETTING_SIGNATURES, string>
>;
/** A key accepted in CreateSession (and, in netsessiond, in Change). */
export type RequestKey = keyof typeof CREATE_SETTING_SIGNATURES;

/** Signatures inside the `IPv4` dict. */
export const IPV4_SIGNATURES = { Method: 's', Address: 's', Netmask: 's', Gateway: 's' } as const;
/** Signatures inside the `IPv6` dict (PrefixLength is a byte). */
export const IPV6_SIGNATURES = { Method: 's', Address: 's', PrefixLength: 'y', Gateway: 's', Privacy: 's' } as const;

/** The `IPv4` dict of an Update. Empty when the bound service has no usable IPv4. */
export interface IPv4Settings {
  Method?: IpMethod;
  Address?: string;
  Netmask?: string;
  Gateway?: string;
}
/** The `IPv6` dict of an Update. Empty when the bound service has no usable IPv6. */
export interface IPv6Settings {
  Method?: IpMethod;
  Address?: string;
  PrefixLength?: number;
  Gateway?: string;
  Privacy?: 'disabled' | 'enabled' | 'prefered';
}

/** A complete set of session settings, as the first Update carries them. */
export interface SessionSettings {
  State: SessionState;
  Name: string;
  IPv4: IPv4Settings;
  IPv6: IPv6Settings;
  Interface: string;
  Bearer: Bearer | '';
  ConnectionType: ConnectionType | '';
  AllowedBearers: Bearer[];
  AllowedInterface: string;
  ContextIdentifier: string;
  SourceIPRule: boolean;
}

/** Error name prefix used by ConnMan. */
export const ERROR_PREFIX = 'net.connman.Error.';

/** ConnMan's D-Bus error names (suffixes after {@link ERROR_PREFIX}). */
export const ERROR_NAMES = [
  'Failed',
  'InvalidArguments',
  'InvalidProperty',
  'PermissionDenied',
  'PassphraseRequired',
  'NotRegistered',
  'NotUnique',
  'NotSupported',
  'NotImplemented',
  'NotFound',
  'NoCarrier',
  'InProgress',
  'AlreadyExists',
  'AlreadyEnabled',
  'AlreadyDisabled',
  'AlreadyConnected',
  'NotConnected',
  'OperationAborted',
  'OperationTimeout',
  'InvalidService',
] as const;
/** A ConnMan error suffix such as `InvalidArguments`. */
export type ConnmanErrorName = (typeof ERROR_NAMES)[number];
/** A full D-Bus error name such as `net.connman.Error.InvalidArguments`. */
export type ConnmanErrorFullName = `net.connman.Error.${ConnmanErrorName}`;

/** Builds the full D-Bus error name. */
export function errorName(name: ConnmanErrorName): ConnmanErrorFullName {
  return `${ERROR_PREFIX}${name}`;
}

/**
 * Session object path for an owner (unique bus name) and notifier path, ConnMan style:
 * `:1.42` + `/foo` -> `/sessions/_1_42/foo`.
 */
export function sessionPath(owner: string, notifier: string): string {
  const ownerPart = owner.replace(/[:.]/g, '_');
  // A notifier of "/" would give a trailing slash, which is not a valid object path (ConnMan gap).
  const tail = notifier === '/' ? '' : notifier;
  return `${PATHS.sessionPrefix}/${ownerPart}${tail}`;
}

/** Object path of a service. */
export function servicePath(serviceId: string): string {
  return `${PATHS.servicePrefix}${serviceId}`;
}

/** Object path of a technology. */
export function technologyPath(bearer: Bearer): string {
  return `${PATHS.technologyPrefix}${bearer}`;
}

/** True for a valid D-Bus object path. */
export function isObjectPath(s: string): boolean {
  return s === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(s);
}

/**
 * Can this be a Linux interface name? 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'
 * (the kernel's dev_valid_name). Used by the daemon and the SDK alike, so both reject the same
 * names; `*` and `""` ("any interface") are handled by the callers.
 */
export function isValidInterfaceName(name: string): boolean {
  if (name.length < 1 || Buffer.byteLength(name) > 15) return false;
  if (name === '.' || name === '..') return false;
  return !/[/:\s\0]/.test(name);
}
