/**
 * Daemon errors: one base class, one class per condition with a literal `code`, and one table
 * ({@link DBUS_ERROR_OF}) that maps each code to ConnMan's D-Bus error name. The D-Bus adapter
 * translates with that table and nowhere else.
 */
import type { ConnmanErrorName } from '../../lib/protocol.js';

/** Base class of every error the daemon reports. */
export abstract class DaemonError extends Error {
  abstract readonly code: DaemonErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A settings key that ConnMan does not accept (in CreateSession or Change). */
export class UnknownSettingError extends DaemonError {
  readonly code = 'NSD_ERR_UNKNOWN_SETTING' as const;
  constructor(readonly key: string) {
    super(`unknown setting '${key}'`);
  }
}

/** A known key whose variant has the wrong D-Bus signature. */
export class WrongTypeError extends DaemonError {
  readonly code = 'NSD_ERR_WRONG_TYPE' as const;
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`setting '${key}' must have signature '${expected}', got '${got}'`);
  }
}

/** A bearer name that is not one of ConnMan's. */
export class UnknownBearerError extends DaemonError {
  readonly code = 'NSD_ERR_UNKNOWN_BEARER' as const;
  constructor(readonly bearer: string) {
    super(`unknown bearer '${bearer}' (expected one of ethernet, wifi, bluetooth, cellular, gadget, vpn or *)`);
  }
}

/** An AllowedInterface value that cannot be a Linux interface name. */
export class BadInterfaceNameError extends DaemonError {
  readonly code = 'NSD_ERR_BAD_INTERFACE_NAME' as const;
  constructor(readonly value: string) {
    super(`'${value}' is not a valid interface name (1-15 characters, no '/', ':' or whitespace)`);
  }
}

/** A ConnectionType other than any, local or internet. */
export class BadConnectionTypeError extends DaemonError {
  readonly code = 'NSD_ERR_BAD_CONNECTION_TYPE' as const;
  constructor(readonly value: string) {
    super(`'${value}' is not a connection type (expected any, local or internet)`);
  }
}

/** A setting that exists in Updates but cannot be set by a client (State, Name, ...). */
export class ReadOnlySettingError extends DaemonError {
  readonly code = 'NSD_ERR_READ_ONLY_SETTING' as const;
  constructor(readonly key: string) {
    super(`setting '${key}' is read-only`);
  }
}

/** A notifier that is not a valid object path (or is '/'). */
export class BadNotifierError extends DaemonError {
  readonly code = 'NSD_ERR_BAD_NOTIFIER' as const;
  constructor(readonly path: string) {
    super(`'${path}' cannot be a notifier path (it must be an object path other than '/')`);
  }
}

/** The same owner already has a session for this notifier path. */
export class SessionExistsError extends DaemonError {
  readonly code = 'NSD_ERR_SESSION_EXISTS' as const;
  constructor(readonly path: string) {
    super(`a session already exists at ${path}`);
  }
}

/** The path names no live session. */
export class SessionNotFoundError extends DaemonError {
  readonly code = 'NSD_ERR_SESSION_NOT_FOUND' as const;
  constructor(readonly path: string) {
    super(`no session at ${path}`);
  }
}

/** The caller is neither the session's owner nor root. */
export class NotOwnerError extends DaemonError {
  readonly code = 'NSD_ERR_NOT_OWNER' as const;
  constructor(readonly path: string) {
    super(`only the owner of ${path} (or root) may do that`);
  }
}

/**
 * The caller reached a configured session limit, or (`daemon`) the number of sessions the
 * daemon's JS heap limit holds.
 */
export class SessionLimitError extends DaemonError {
  readonly code = 'NSD_ERR_SESSION_LIMIT' as const;
  constructor(
    readonly scope: 'client' | 'uid' | 'daemon',
    readonly limit: number,
  ) {
    super(
      scope === 'daemon'
        ? `session limit reached: the daemon's memory limit holds at most ${limit} sessions (raise --max-old-space-size in netsessiond's #! line to allow more)`
        : `session limit reached: at most ${limit} sessions per ${scope}`,
    );
  }
}

/** A mark, table id or priority range has no free value left. */
export class AllocationExhaustedError extends DaemonError {
  readonly code = 'NSD_ERR_ALLOCATION_EXHAUSTED' as const;
  constructor(readonly pool: string) {
    super(`no free ${pool} left in the configured range`);
  }
}

/** A policy file that cannot be used; the file's previous contents stay in force. */
export class PolicyParseError extends DaemonError {
  readonly code = 'NSD_ERR_POLICY_PARSE' as const;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${detail}`);
  }
}

/** A provisioning (`*.config`) file that cannot be used; the file's previous contents stay in force. */
export class ProvisioningError extends DaemonError {
  readonly code = 'NSD_ERR_PROVISIONING' as const;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${detail}`);
  }
}

/** A bad value in the daemon's own configuration. */
export class ConfigError extends DaemonError {
  readonly code = 'NSD_ERR_CONFIG' as const;
}

/** No service with that identifier. */
export class ServiceNotFoundError extends DaemonError {
  readonly code = 'NSD_ERR_SERVICE_NOT_FOUND' as const;
  constructor(readonly serviceId: string) {
    super(`no service '${serviceId}'`);
  }
}

/** No technology of that type. */
export class TechnologyNotFoundError extends DaemonError {
  readonly code = 'NSD_ERR_TECHNOLOGY_NOT_FOUND' as const;
  constructor(readonly technology: string) {
    super(`no technology '${technology}'`);
  }
}

/** Technology already powered on. */
export class AlreadyEnabledError extends DaemonError {
  readonly code = 'NSD_ERR_ALREADY_ENABLED' as const;
}

/** Technology already powered off. */
export class AlreadyDisabledError extends DaemonError {
  readonly code = 'NSD_ERR_ALREADY_DISABLED' as const;
}

/** A property name that SetProperty does not know, or a value of the wrong type. */
export class InvalidPropertyError extends DaemonError {
  readonly code = 'NSD_ERR_INVALID_PROPERTY' as const;
  constructor(readonly property: string) {
    super(`invalid property '${property}'`);
  }
}

/** An operation this daemon does not support (or not in this configuration). */
export class NotSupportedError extends DaemonError {
  readonly code = 'NSD_ERR_NOT_SUPPORTED' as const;
}

/** An emergency-call session is active and blocks the request (ConnMan's EBUSY). */
export class EmergencyBusyError extends DaemonError {
  readonly code = 'NSD_ERR_EMERGENCY_BUSY' as const;
  constructor() {
    super('an emergency-call session is active (Device or resource busy)');
  }
}

/** An operation only root may perform (OfflineMode, Powered, listing all sessions). */
export class RootOnlyError extends DaemonError {
  readonly code = 'NSD_ERR_ROOT_ONLY' as const;
  constructor(readonly operation: string) {
    super(`only root may ${operation}`);
  }
}

/** Service.Connect on a service that is already connected. */
export class AlreadyConnectedError extends DaemonError {
  readonly code = 'NSD_ERR_ALREADY_CONNECTED' as const;
  constructor(readonly serviceId: string) {
    super(`${serviceId} is already connected`);
  }
}

/** Service.Disconnect on a managed service that is neither connected nor connecting. */
export class NotConnectedError extends DaemonError {
  readonly code = 'NSD_ERR_NOT_CONNECTED' as const;
  constructor(readonly serviceId: string) {
    super(`${serviceId} is not connected`);
  }
}

/** MoveBefore/MoveAfter with a target that is unknown, not managed, or the service itself. */
export class InvalidServiceError extends DaemonError {
  readonly code = 'NSD_ERR_INVALID_SERVICE' as const;
  constructor(
    readonly target: string,
    why: string,
  ) {
    super(`${target}: ${why}`);
  }
}

/** RegisterCounter for a path the caller has already registered (ConnMan's EEXIST). */
export class CounterExistsError extends DaemonError {
  readonly code = 'NSD_ERR_COUNTER_EXISTS' as const;
  constructor(readonly path: string) {
    super(`a counter is already registered at ${path}`);
  }
}

/** UnregisterCounter for a path the caller has not registered (ConnMan's ESRCH). */
export class CounterNotRegisteredError extends DaemonError {
  readonly code = 'NSD_ERR_COUNTER_NOT_REGISTERED' as const;
  constructor(readonly path: string) {
    super(`no counter registered at ${path} by this client`);
  }
}

/** RegisterCounter with a period of 0 s (such a counter would never report). */
export class BadCounterPeriodError extends DaemonError {
  readonly code = 'NSD_ERR_BAD_COUNTER_PERIOD' as const;
  constructor(readonly period: number) {
    super(`counter period must be at least 1 second, got ${period}`);
  }
}

/** The caller already has the maximum number of counters. */
export class CounterLimitError extends DaemonError {
  readonly code = 'NSD_ERR_COUNTER_LIMIT' as const;
  constructor(readonly limit: number) {
    super(`counter limit reached: at most ${limit} counters per client`);
  }
}

/** A ClaimCgroup path that is not an absolute, normalised cgroupv2 path. */
export class BadCgroupPathError extends DaemonError {
  readonly code = 'NSD_ERR_BAD_CGROUP_PATH' as const;
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`'${path}' is not a cgroup path the daemon can claim: ${reason}`);
  }
}

/** ClaimCgroup of a cgroup that does not exist (or cgroup2 is not mounted where the daemon looks). */
export class CgroupNotFoundError extends DaemonError {
  readonly code = 'NSD_ERR_CGROUP_NOT_FOUND' as const;
  constructor(readonly path: string) {
    super(`no cgroup ${path} (the directory does not exist under the cgroup2 mount)`);
  }
}

/** A non-root caller claimed a cgroup whose directory another uid owns. */
export class CgroupNotOwnedError extends DaemonError {
  readonly code = 'NSD_ERR_CGROUP_NOT_OWNED' as const;
  constructor(
    readonly path: string,
    readonly uid: number,
  ) {
    super(`uid ${uid} may claim only a cgroup whose directory it owns; ${path} is not`);
  }
}

/** A session already claims the maximum number of cgroups. */
export class CgroupClaimLimitError extends DaemonError {
  readonly code = 'NSD_ERR_CGROUP_CLAIM_LIMIT' as const;
  constructor(readonly limit: number) {
    super(`cgroup claim limit reached: at most ${limit} cgroups per session`);
  }
}

/** SetStatisticsInterval with an interval outside the bounds (0 stops, which is always fine). */
export class BadStatisticsIntervalError extends DaemonError {
  readonly code = 'NSD_ERR_BAD_STATISTICS_INTERVAL' as const;
  constructor(
    readonly seconds: number,
    readonly min: number,
    readonly max: number,
  ) {
    super(`statistics interval must be 0 (stop) or ${min} to ${max} seconds, got ${seconds}`);
  }
}

/** Every condition the daemon can report. */
export type DaemonErrorCode =
  | UnknownSettingError['code']
  | WrongTypeError['code']
  | UnknownBearerError['code']
  | BadInterfaceNameError['code']
  | BadConnectionTypeError['code']
  | ReadOnlySettingError['code']
  | BadNotifierError['code']
  | SessionExistsError['code']
  | SessionNotFoundError['code']
  | NotOwnerError['code']
  | SessionLimitError['code']
  | AllocationExhaustedError['code']
  | PolicyParseError['code']
  | ProvisioningError['code']
  | ConfigError['code']
  | ServiceNotFoundError['code']
  | TechnologyNotFoundError['code']
  | AlreadyEnabledError['code']
  | AlreadyDisabledError['code']
  | InvalidPropertyError['code']
  | NotSupportedError['code']
  | EmergencyBusyError['code']
  | RootOnlyError['code']
  | AlreadyConnectedError['code']
  | NotConnectedError['code']
  | InvalidServiceError['code']
  | CounterExistsError['code']
  | CounterNotRegisteredError['code']
  | BadCounterPeriodError['code']
  | CounterLimitError['code']
  | BadCgroupPathError['code']
  | CgroupNotFoundError['code']
  | CgroupNotOwnedError['code']
  | CgroupClaimLimitError['code']
  | BadStatisticsIntervalError['code'];

/**
 * The one table from daemon error codes to ConnMan D-Bus error names. Where ConnMan has a
 * matching condition we use its name (e.g. DestroySession on an unknown path is
 * InvalidArguments in ConnMan, so SessionNotFound is too).
 */
export const DBUS_ERROR_OF: Readonly<Record<DaemonErrorCode, ConnmanErrorName>> = {
  NSD_ERR_UNKNOWN_SETTING: 'InvalidArguments',
  NSD_ERR_WRONG_TYPE: 'InvalidArguments',
  NSD_ERR_UNKNOWN_BEARER: 'InvalidArguments',
  NSD_ERR_BAD_INTERFACE_NAME: 'InvalidArguments',
  NSD_ERR_BAD_CONNECTION_TYPE: 'InvalidArguments',
  NSD_ERR_READ_ONLY_SETTING: 'InvalidArguments',
  NSD_ERR_BAD_NOTIFIER: 'InvalidArguments',
  NSD_ERR_SESSION_EXISTS: 'AlreadyExists',
  NSD_ERR_SESSION_NOT_FOUND: 'InvalidArguments',
  NSD_ERR_NOT_OWNER: 'PermissionDenied',
  NSD_ERR_SESSION_LIMIT: 'Failed',
  NSD_ERR_ALLOCATION_EXHAUSTED: 'Failed',
  NSD_ERR_POLICY_PARSE: 'Failed',
  NSD_ERR_PROVISIONING: 'Failed',
  NSD_ERR_CONFIG: 'Failed',
  NSD_ERR_SERVICE_NOT_FOUND: 'NotFound',
  NSD_ERR_TECHNOLOGY_NOT_FOUND: 'NotFound',
  NSD_ERR_ALREADY_ENABLED: 'AlreadyEnabled',
  NSD_ERR_ALREADY_DISABLED: 'AlreadyDisabled',
  NSD_ERR_INVALID_PROPERTY: 'InvalidProperty',
  NSD_ERR_NOT_SUPPORTED: 'NotSupported',
  NSD_ERR_EMERGENCY_BUSY: 'Failed',
  NSD_ERR_ROOT_ONLY: 'PermissionDenied',
  NSD_ERR_ALREADY_CONNECTED: 'AlreadyConnected',
  NSD_ERR_NOT_CONNECTED: 'NotConnected',
  NSD_ERR_INVALID_SERVICE: 'InvalidService',
  NSD_ERR_COUNTER_EXISTS: 'AlreadyExists',
  NSD_ERR_COUNTER_NOT_REGISTERED: 'NotRegistered',
  NSD_ERR_BAD_COUNTER_PERIOD: 'InvalidArguments',
  NSD_ERR_COUNTER_LIMIT: 'Failed',
  NSD_ERR_BAD_CGROUP_PATH: 'InvalidArguments',
  NSD_ERR_CGROUP_NOT_FOUND: 'NotFound',
  NSD_ERR_CGROUP_NOT_OWNED: 'PermissionDenied',
  NSD_ERR_CGROUP_CLAIM_LIMIT: 'Failed',
  NSD_ERR_BAD_STATISTICS_INTERVAL: 'InvalidArguments',
};
