/**
 * What a failed method call answers on the wire. DaemonErrors carry their ConnMan name through
 * the one table, DBUS_ERROR_OF; anything else is a bug in the daemon, so the client gets a
 * generic `Failed` with a short message and the details go to the log only.
 */
import { errorName } from '../../../lib/protocol.js';
import { DaemonError, DBUS_ERROR_OF } from '../../core/errors.js';
import type { Logger } from '../../ports.js';

/** A D-Bus error reply: its name and its single string argument. */
export interface WireError {
  name: string;
  message: string;
}

/** Errors the bus layer answers itself (libdbus/GDBus names, as real connmand sends them). */
export const BUS_ERRORS = {
  unknownMethod: 'org.freedesktop.DBus.Error.UnknownMethod',
  unknownObject: 'org.freedesktop.DBus.Error.UnknownObject',
} as const;

/** Thrown by the bus layer when it already knows the exact reply (no logging, no mapping). */
export class BusReplyError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
    this.name = 'BusReplyError';
  }
}

const MAX_MESSAGE = 160;

function short(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE - 1)}…` : line;
}

/**
 * Maps a thrown value to its error reply. `context` (e.g. `net.connman.Manager.CreateSession`)
 * only goes into the log line of unexpected errors.
 */
export function toWireError(err: unknown, log?: Logger, context = 'method call'): WireError {
  if (err instanceof BusReplyError) return err.wire;
  if (err instanceof DaemonError) {
    const suffix = DBUS_ERROR_OF[err.code];
    if (suffix) return { name: errorName(suffix), message: err.message };
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log?.('error', `${context} failed unexpectedly: ${detail}`);
  const message = err instanceof Error ? err.message : String(err);
  return { name: errorName('Failed'), message: short(`internal error: ${message}`) };
}
