/**
 * SDK errors: one base class ({@link NetsessionError}), one class per condition with a literal
 * `code`, and one table ({@link fromDBusError}) that turns a D-Bus error name into a class.
 *
 * @packageDocumentation
 */
import { ERROR_PREFIX, type ConnmanErrorName } from './protocol.js';

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
  const suffix = dbusName.startsWith(ERROR_PREFIX) ? (dbusName.slice(ERROR_PREFIX.length) as ConnmanErrorName) : undefined;
  const Cls = (suffix && CLASS_OF[suffix]) || UnknownDaemonError;
  return new Cls(message || dbusName, dbusName, { cause });
}
