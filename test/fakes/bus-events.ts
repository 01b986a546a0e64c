/**
 * The daemon's BusEvents port (adapters/dbus/events.ts) over a fresh object table and gate, with
 * every message it emits and every line it logs recorded instead of sent.
 */
import type { DBusMessage } from '../../daemon/adapters/dbus/connection.js';
import { createBusEvents } from '../../daemon/adapters/dbus/events.js';
import { ObjectTable } from '../../daemon/adapters/dbus/objects.js';
import { UpdateGate } from '../../daemon/adapters/dbus/update-gate.js';

export function recordingBusEvents() {
  const sent: DBusMessage[] = [];
  const logs: string[] = [];
  const ev = createBusEvents({
    objects: new ObjectTable(),
    gate: new UpdateGate<DBusMessage>(),
    emit: (m) => sent.push(m),
    log: (_l, m) => logs.push(m),
  });
  return { ev, sent, logs };
}
