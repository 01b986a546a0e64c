/**
 * SDK errors: one base class ({@link NetsessionError}), one class per condition with a literal
 * `code`, and one table ({@link fromDBusError}) that turns a D-Bus error name into a class.
 *
 * @packageDocumentation
 */
import { type Bearer, type ConnmanErrorName, ERROR_PREFIX } from './protocol.js';

/** Base class of every error the SDK throws. Check `code` rather than the message. */
export abstract class NetsessionError extends Error {
  /** Stable machine-readable code, `NS_ERR_*`. */
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Base of errors the daemon returned over D-Bus; `dbusName` keeps the exact name. */
export abstract class DaemonReplyError extends NetsessionError {
  constructor(
    message: string,
    /** The D-Bus error name as received, e.g. `net.connman.Error.InvalidArguments`. */
    readonly dbusName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `net.connman.Error.Failed`. */
export class FailedError extends DaemonReplyError {
  readonly code = 'NS_ERR_FAILED' as const;
}
/** `net.connman.Error.InvalidArguments`. */
export class InvalidArgumentsError extends DaemonReplyError {
  readonly code = 'NS_ERR_INVALID_ARGUMENTS' as const;
}
/** `net.connman.Error.InvalidProperty`. */
export class InvalidPropertyError extends DaemonReplyError {
  readonly code = 'NS_ERR_INVALID_PROPERTY' as const;
}
/** `net.connman.Error.PermissionDenied`. */
export class PermissionDeniedError extends DaemonReplyError {
  readonly code = 'NS_ERR_PERMISSION_DENIED' as const;
}
/** `net.connman.Error.NotSupported`. */
export class NotSupportedError extends DaemonReplyError {
  readonly code = 'NS_ERR_NOT_SUPPORTED' as const;
}
/** `net.connman.Error.NotImplemented`. */
export class NotImplementedError extends DaemonReplyError {
  readonly code = 'NS_ERR_NOT_IMPLEMENTED' as const;
}
/** `net.connman.Error.NotFound`. */
export class NotFoundError extends DaemonReplyError {
  readonly code = 'NS_ERR_NOT_FOUND' as const;
}
/** `net.connman.Error.InProgress`. */
export class InProgressError extends DaemonReplyError {
  readonly code = 'NS_ERR_IN_PROGRESS' as const;
}
/** `net.connman.Error.AlreadyExists`. */
export class AlreadyExistsError extends DaemonReplyError {
  readonly code = 'NS_ERR_ALREADY_EXISTS' as const;
}
/** `net.connman.Error.AlreadyEnabled`. */
export class AlreadyEnabledError extends DaemonReplyError {
  readonly code = 'NS_ERR_ALREADY_ENABLED' as const;
}
/** `net.connman.Error.AlreadyDisabled`. */
export class AlreadyDisabledError extends DaemonReplyError {
  readonly code = 'NS_ERR_ALREADY_DISABLED' as const;
}
/** `net.connman.Error.AlreadyConnected`. */
export class AlreadyConnectedError extends DaemonReplyError {
  readonly code = 'NS_ERR_ALREADY_CONNECTED' as const;
}
/** `net.connman.Error.NotConnected`. */
export class NotConnectedReplyError extends DaemonReplyError {
  readonly code = 'NS_ERR_NOT_CONNECTED_REPLY' as const;
}
/** `net.connman.Error.NotRegistered`. */
export class NotRegisteredError extends DaemonReplyError {
  readonly code = 'NS_ERR_NOT_REGISTERED' as const;
}
/** Any other ConnMan or D-Bus error name; `dbusName` tells which. */
export class UnknownDaemonError extends DaemonReplyError {
  readonly code = 'NS_ERR_UNKNOWN_DAEMON_ERROR' as const;
}

/** An option passed to the SDK is invalid; nothing was sent to the daemon. */
export class InvalidOptionError extends NetsessionError {
  readonly code = 'NS_ERR_INVALID_OPTION' as const;
  constructor(
    /** Name of the offending option, e.g. `allowedBearers`. */
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}

type ReplyErrorClass = new (message: string, dbusName: string, options?: { cause?: unknown }) => DaemonReplyError;

/** The one table from ConnMan error names to SDK classes. Names not listed map to {@link UnknownDaemonError}. */
const CLASS_OF: Partial<Record<ConnmanErrorName, ReplyErrorClass>> = {
  Failed: FailedError,
  InvalidArguments: InvalidArgumentsError,
  InvalidProperty: InvalidPropertyError,
  PermissionDenied: PermissionDeniedError,
  NotSupported: NotSupportedError,
  NotImplemented: NotImplementedError,
  NotFound: NotFoundError,
  InProgress: InProgressError,
  AlreadyExists: AlreadyExistsError,
  AlreadyEnabled: AlreadyEnabledError,
  AlreadyDisabled: AlreadyDisabledError,
  AlreadyConnected: AlreadyConnectedError,
  NotConnected: NotConnectedReplyError,
  NotRegistered: NotRegisteredError,
};

/** Turns a D-Bus error (name and message) into the matching SDK error class. */
export function fromDBusError(dbusName: string, message: string, cause?: unknown): DaemonReplyError {
  const suffix = dbusName.startsWith(ERROR_PREFIX)
    ? (dbusName.slice(ERROR_PREFIX.length) as ConnmanErrorName)
    : undefined;
  const Cls = (suffix && CLASS_OF[suffix]) || UnknownDaemonError;
  return new Cls(message || dbusName, dbusName, { cause });
}

// ---------------------------------------------------------------------------------------------
// Errors the SDK raises itself (no D-Bus error name behind them).

/** Why a {@link DaemonUnavailableError} was raised. */
export type DaemonUnavailableReason =
  /** Nobody owns the daemon's bus name (netsessiond/connmand not running, or not allowed to be reached). */
  | 'no-daemon'
  /** The daemon left the bus (stopped or crashed) while sessions were open. */
  | 'daemon-left'
  /** The bus itself could not be reached (no socket, permission denied, handshake failed). */
  | 'bus-unreachable'
  /** The connection to the bus closed (the bus daemon stopped). */
  | 'bus-closed';

/**
 * The daemon cannot be reached: it is not on the bus, it left, or the bus itself is gone.
 * `reason` says which. Sessions that were open when this happened are destroyed.
 */
export class DaemonUnavailableError extends NetsessionError {
  readonly code = 'NS_ERR_DAEMON_UNAVAILABLE' as const;
  constructor(
    /** What exactly went wrong. */
    readonly reason: DaemonUnavailableReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Why a {@link SessionClosedError} was raised. */
export type SessionClosedReason =
  /** `destroy()` was called on this session. */
  | 'destroyed'
  /** The daemon released the session (`Notification.Release`, e.g. when it shuts down). */
  | 'released'
  /** The daemon no longer knows the session (its object is gone, e.g. destroyed by root). */
  | 'gone'
  /** The daemon or the bus went away; `cause` is the {@link DaemonUnavailableError}. */
  | 'lost'
  /** The transport the session lived on was closed. */
  | 'transport-closed';

/**
 * The session is over, so the call cannot be made (or a pending wait cannot finish).
 * `reason` says how it ended; `cause` carries the underlying error when there is one.
 */
export class SessionClosedError extends NetsessionError {
  readonly code = 'NS_ERR_SESSION_CLOSED' as const;
  constructor(
    /** How the session ended. */
    readonly reason: SessionClosedReason,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? `the session is closed (${reason})`, options);
  }
}

/** A `timeout` given to an SDK call expired before the call finished. */
export class TimeoutError extends NetsessionError {
  readonly code = 'NS_ERR_TIMEOUT' as const;
  constructor(
    message: string,
    /** The timeout that expired, in milliseconds. */
    readonly timeout: number,
  ) {
    super(message);
  }
}

/**
 * The `signal` passed to an SDK call was aborted. Its `name` is `'AbortError'` (like the
 * DOMException that `fetch` and Node's timers throw), so `err.name === 'AbortError'` checks keep
 * working; `cause` is the signal's `reason`.
 */
export class AbortError extends NetsessionError {
  readonly code = 'NS_ERR_ABORTED' as const;
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The daemon lacks a netsession extension the call needs — e.g. `statistics()` against a real
 * connmand (no `org.netsession.*` interfaces), or a netsessiond started without the kernel
 * datapath (no `Statistics` capability). Not to be confused with {@link NotSupportedError}, which
 * is the daemon answering `net.connman.Error.NotSupported` to a call it knows.
 */
export class ExtensionNotSupportedError extends NetsessionError {
  readonly code = 'NS_ERR_EXTENSION_NOT_SUPPORTED' as const;
  constructor(
    /** The capability that is missing, e.g. `Statistics`. */
    readonly feature: string,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? `the daemon does not support the '${feature}' extension`, options);
  }
}

/**
 * The session has no uplink right now (state `disconnected`, or no address of the wanted
 * family), so a socket cannot be bound to it. Raised by the bind helpers.
 */
export class NotConnectedError extends NetsessionError {
  readonly code = 'NS_ERR_NOT_CONNECTED' as const;
}

/**
 * A bind helper was used on a session whose `sourceIPRule` is off. A socket bound to the
 * session's address leaves through the session's uplink only while the daemon routes by source
 * address for it; without that rule the kernel's main table picks the way out, and the packet
 * leaves through some other uplink with this uplink's address (dropped by any ISP that filters
 * spoofed sources). Create the session with `sourceIPRule: true`, or `change({ sourceIPRule: true })`.
 */
export class SourceIPRuleRequiredError extends NetsessionError {
  readonly code = 'NS_ERR_SOURCE_IP_RULE_REQUIRED' as const;
}

/**
 * A wait for an uplink cannot succeed: the daemon's policy removed every bearer the session asked
 * for (e.g. a policy with `AllowedBearers = wifi` and a session asking for `['cellular']`: its
 * effective `allowedBearers` is empty, so no uplink will ever be bound). Raised at once by
 * `waitFor('online' | 'connected')` instead of a timeout.
 */
export class BearersNotAllowedError extends NetsessionError {
  readonly code = 'NS_ERR_BEARERS_NOT_ALLOWED' as const;
  constructor(
    /** The bearers the session asked for. */
    readonly requested: readonly Bearer[],
    /** The policy group that removed them (`file:group`, netsessiond), or `null` when the daemon does not say. */
    readonly policy: string | null,
  ) {
    super(
      `the daemon's policy${policy ? ` ${policy}` : ''} allows none of the requested bearers (${requested.join(', ') || 'none'}): no uplink can be bound`,
    );
  }
}

/**
 * An uplink probe of {@link monitorUplinks} failed with something that is not an SDK error (a
 * socket error, an HTTP status the probe rejected, …). `cause` is the original error; the message
 * is its message.
 */
export class ProbeFailedError extends NetsessionError {
  readonly code = 'NS_ERR_PROBE_FAILED' as const;
}

/**
 * An optional native package the call needs is not installed (or cannot load on this system).
 * Today only `koffi`, which a `unix:abstract=` bus address needs: install it, or give the bus a
 * `unix:path=` address. In a bus address list (`a;b`) the SDK tries the next entry first.
 */
export class NativeModuleMissingError extends NetsessionError {
  readonly code = 'NS_ERR_NATIVE_MODULE_MISSING' as const;
  constructor(
    /** The npm package that is missing, e.g. `koffi`. */
    readonly module: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The daemon sent something the SDK cannot understand (a malformed Update, a bad reply). */
export class ProtocolError extends NetsessionError {
  readonly code = 'NS_ERR_PROTOCOL' as const;
}
