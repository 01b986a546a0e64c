/**
 * The process-wide default transport (undici's global dispatcher plays this role there): a
 * {@link DBusTransport} on the system bus, created on first use, replaceable with
 * {@link setDefaultTransport}. Kept on `globalThis` under a registered symbol so that two copies
 * of the package in one process share it.
 */
import { DBusTransport } from './dbus/dbus-transport.js';
import { InvalidOptionError } from './errors.js';
import type { SessionTransport, Transport } from './transport.js';

// Bump the number if the Transport interface ever changes incompatibly, so copies of different
// major versions do not hand each other a transport they cannot use.
const GLOBAL_KEY = Symbol.for('netsession.defaultTransport.1');

type Holder = { [GLOBAL_KEY]?: Transport };

/** True if `t` has the methods every {@link Transport} has (its {@link SessionTransport} minimum). */
export function isTransport(t: unknown): t is Transport {
  if (t === null || typeof t !== 'object') return false;
  const o = t as Record<string, unknown>;
  return ['createSession', 'capabilities', 'close'].every((m) => typeof o[m] === 'function');
}

/**
 * The transport `createSession()` uses when none is passed: the one set with
 * {@link setDefaultTransport}, else a {@link DBusTransport} with default options (the system bus
 * from `DBUS_SYSTEM_BUS_ADDRESS`, daemon `net.connman`), created now and kept.
 */
export function getDefaultTransport(): Transport {
  const holder = globalThis as Holder;
  holder[GLOBAL_KEY] ??= new DBusTransport();
  return holder[GLOBAL_KEY];
}

/**
 * Replaces the process-wide default transport (e.g. with a `MockTransport` in tests, or a
 * `DBusTransport` with other options). Sessions already created keep theirs. The previous
 * transport is not closed.
 */
export function setDefaultTransport(transport: Transport): void {
  if (!isTransport(transport))
    throw new InvalidOptionError('transport', 'must implement createSession, capabilities and close');
  (globalThis as Holder)[GLOBAL_KEY] = transport;
}
