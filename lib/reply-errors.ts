/**
 * From a D-Bus error reply to the SDK error a caller sees, for every transport (the D-Bus one and
 * the mock, so scripted failures look exactly like real ones). ConnMan's names go through the one
 * table in errors.ts ({@link fromDBusError}); the bus's own names get their meaning here, because
 * it depends on what was called (UnknownMethod on an extension means "not supported", on a
 * ConnMan method it is a plain daemon error).
 *
 * Internal: not re-exported from the package.
 */
import {
  DaemonUnavailableError,
  ExtensionNotSupportedError,
  fromDBusError,
  type NetsessionError,
  SessionClosedError,
} from './errors.js';

/** The bus's own error names the SDK gives a meaning to. */
export const BUS_ERROR = {
  serviceUnknown: 'org.freedesktop.DBus.Error.ServiceUnknown',
  nameHasNoOwner: 'org.freedesktop.DBus.Error.NameHasNoOwner',
  unknownObject: 'org.freedesktop.DBus.Error.UnknownObject',
  unknownMethod: 'org.freedesktop.DBus.Error.UnknownMethod',
  unknownInterface: 'org.freedesktop.DBus.Error.UnknownInterface',
} as const;

/** What kind of call failed, which decides what the bus's own errors mean. */
export type CallTarget =
  /** `net.connman.Manager` (CreateSession). */
  | { kind: 'manager' }
  /** `net.connman.Session` on a session object. */
  | { kind: 'session' }
  /** An `org.netsession.*` extension method; `feature` names the capability it belongs to. */
  | { kind: 'extension'; feature: string; onSession: boolean };

/** Maps one error reply (name and text) for a call on `target`. */
export function errorFromReply(
  dbusName: string,
  message: string,
  target: CallTarget,
  cause?: unknown,
): NetsessionError {
  const opts = { cause };
  if (dbusName === BUS_ERROR.serviceUnknown || dbusName === BUS_ERROR.nameHasNoOwner) {
    // dbus-daemon's own text ("…was not provided by any .service files") stays in `cause`.
    return new DaemonUnavailableError(
      'no-daemon',
      'no session daemon on the bus: is netsessiond (or connmand) running?',
      opts,
    );
  }
  if (
    target.kind === 'extension' &&
    (dbusName === BUS_ERROR.unknownMethod || dbusName === BUS_ERROR.unknownInterface)
  ) {
    return new ExtensionNotSupportedError(target.feature, undefined, opts);
  }
  // A session object that vanished: destroyed by root, or the daemon restarted under the same
  // name. On the manager object it would be a daemon bug, which the generic path reports.
  if (
    dbusName === BUS_ERROR.unknownObject &&
    (target.kind === 'session' || (target.kind === 'extension' && target.onSession))
  ) {
    return new SessionClosedError('gone', `the daemon no longer knows this session: ${message || dbusName}`, opts);
  }
  return fromDBusError(dbusName, message, cause);
}
