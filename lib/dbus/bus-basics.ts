/** The bus's own name and object, a call to it, and how a call can end without a reply. */
import { Message } from './message.js';

export const DBUS_NAME = 'org.freedesktop.DBus';
export const DBUS_PATH = '/org/freedesktop/DBus';

/** A method call to the bus itself. */
export function busMethod(member: string, signature = '', body: unknown[] = []): Message {
  return new Message({ destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_NAME, member, signature, body });
}

/** A call that got no reply within its timeout. */
export class CallTimeoutError extends Error {
  override readonly name = 'CallTimeoutError';
}

/** The connection ended before a reply came. */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
}
