/**
 * What the interface tables (manager.ts, service.ts, ...) share: the daemon, the object table,
 * and the Update gate of pending CreateSession calls.
 */
import type { DaemonApi } from '../../api.js';
import type { Logger } from '../../ports.js';
import type { DBusMessage } from './connection.js';
import type { ObjectTable } from './objects.js';
import type { UpdateGate } from './update-gate.js';

export interface AdapterContext {
  /** The daemon (set by `start`; calls cannot arrive before). */
  api(): DaemonApi;
  objects: ObjectTable;
  gate: UpdateGate<DBusMessage>;
  /** Writes messages now (or drops them when the bus is gone). */
  emit(msg: DBusMessage): void;
  /** The private socket's address (GetPeerAddress), or null when there is none. */
  peerAddress(): string | null;
  log: Logger;
}
