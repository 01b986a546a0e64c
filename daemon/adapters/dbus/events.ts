/**
 * The BusEvents port: Updates and Releases to clients' notifiers, Usage and Release to their
 * counters, signals of the Manager, Service and Technology objects, sessions' Statistics signals
 * to their subscribers, and the bookkeeping of which of those objects exist.
 *
 * Every event is turned into a message and written synchronously, so messages leave in the
 * order the daemon produced them (the one exception is the UpdateGate, which only delays a
 * notifier's Updates past its pending CreateSession reply).
 */

import { marshallBody } from '../../../lib/dbus/marshall.js';
import { Message, MessageFlag, MessageType } from '../../../lib/dbus/message.js';
import {
  INTERFACES,
  METHODS,
  NETSESSION_INTERFACE,
  NETSESSION_MANAGER_INTERFACE,
  NETSESSION_METHODS,
  NETSESSION_SIGNATURES,
  PATHS,
  SIGNATURES,
  servicePath,
} from '../../../lib/protocol.js';
import type { Prop, PropDict } from '../../core/properties.js';
import type { BusEvents, Logger } from '../../ports.js';
import type { DBusMessage } from './connection.js';
import type { ObjectTable } from './objects.js';
import type { UpdateGate } from './update-gate.js';
import { encodeDict, toVariant } from './variants.js';

/**
 * Update bodies by dict, encoded once. Updates repeat: every session on a service gets the same
 * first Update and the same last one, and a failover sends one delta to every session it moves.
 * The runtime hands equal contents over as one PropDict object (core/update-dicts.ts), so
 * identity finds them: no content key here. A dict that is not remembered any more is garbage
 * with its body. Null: the dict does not encode (the message is then encoded, and fails, as usual).
 */
const updateBodies = new WeakMap<PropDict, Buffer | null>();

function updateBody(changes: PropDict): Buffer | null {
  const known = updateBodies.get(changes);
  if (known !== undefined) return known;
  let body: Buffer | null;
  try {
    body = marshallBody(SIGNATURES.Update.in, [changes]);
  } catch {
    body = null;
  }
  updateBodies.set(changes, body);
  return body;
}

/** What the events need from the adapter. */
export interface EventDeps {
  objects: ObjectTable;
  gate: UpdateGate<DBusMessage>;
  /** Writes now, or drops (with a debug line) while the bus is not connected. */
  emit(msg: DBusMessage): void;
  /** Writes what was emitted so far now (absent: emitting writes at once). */
  flush?(): void;
  log: Logger;
}

/**
 * Notification calls carry NO_REPLY_EXPECTED: ConnMan ignores the replies anyway, and a system
 * bus allows a connection only 128 pending replies (max_replies_per_connection), which one
 * failover touching more sessions than that would exceed.
 */
function notification(
  owner: string,
  notifier: string,
  member: string,
  signature: string,
  body: unknown[],
): DBusMessage {
  return new Message({
    destination: owner,
    path: notifier,
    interface: INTERFACES.notification,
    member,
    signature,
    body,
    flags: MessageFlag.NO_REPLY_EXPECTED,
  });
}

/** A call on a client's `net.connman.Counter` object; no reply expected, as connmand sends them. */
function counterCall(owner: string, path: string, member: string, signature: string, body: unknown[]): DBusMessage {
  return new Message({
    destination: owner,
    path,
    interface: INTERFACES.counter,
    member,
    signature,
    body,
    flags: MessageFlag.NO_REPLY_EXPECTED,
  });
}

/** Creates the BusEvents implementation over the adapter's object table and connection. */
export function createBusEvents(deps: EventDeps): BusEvents {
  const { objects, gate, log } = deps;

  const guarded = (what: string, build: () => DBusMessage | null): void => {
    let msg: DBusMessage | null;
    try {
      msg = build();
    } catch (err) {
      // A PropDict whose values do not fit their signatures: a daemon bug, not the client's.
      log('error', `cannot encode ${what}: ${(err as Error).message}`);
      return;
    }
    if (msg) deps.emit(msg);
  };

  const signal = (path: string, iface: string, member: string, signature: string, body: () => unknown[]): void =>
    guarded(`${iface}.${member} on ${path}`, () => Message.newSignal(path, iface, member, signature, body()));

  return {
    flush: () => deps.flush?.(),
    update(owner: string, notifier: string, changes: PropDict): void {
      // The hot path: the marshaller takes a PropDict as it is (a `{ signature, value }` is a
      // variant, nested dicts included), so no copy is built; a value that does not fit its
      // signature is logged by `emit` when the message is written, and nothing is sent.
      const msg = notification(owner, notifier, METHODS.notification.Update, SIGNATURES.Update.in, [changes]);
      msg.bodyBytes = updateBody(changes);
      if (!gate.offer(owner, notifier, msg)) deps.emit(msg);
    },

    release(owner: string, notifier: string): void {
      guarded(`Release for ${owner}${notifier}`, () => {
        const msg = notification(owner, notifier, METHODS.notification.Release, '', []);
        return gate.offer(owner, notifier, msg) ? null : msg;
      });
    },

    counterUsage(owner: string, path: string, service: string, home: PropDict, roaming: PropDict): void {
      guarded(`Usage for ${owner}${path}`, () =>
        counterCall(owner, path, METHODS.counter.Usage, SIGNATURES.Usage.in, [
          service,
          encodeDict(home),
          encodeDict(roaming),
        ]),
      );
    },

    counterRelease(owner: string, path: string): void {
      guarded(`counter Release for ${owner}${path}`, () => counterCall(owner, path, METHODS.counter.Release, '', []));
    },

    sessionStatistics(subscriber: string, path: string, stats: PropDict): void {
      // A unicast signal: a session's traffic figures reach the client that asked, not the whole bus.
      guarded(
        `Statistics for ${subscriber} on ${path}`,
        () =>
          new Message({
            type: MessageType.SIGNAL,
            destination: subscriber,
            path,
            interface: NETSESSION_INTERFACE,
            member: NETSESSION_METHODS.sessionSignals.Statistics,
            signature: NETSESSION_SIGNATURES.Statistics,
            body: [encodeDict(stats)],
          }),
      );
    },

    sessionRemoved(path: string): void {
      objects.sessions.delete(path);
    },

    servicesChanged(order: Array<{ path: string; props: PropDict | null }>, removed: string[]): void {
      objects.services.clear();
      for (const s of order) objects.services.add(s.path);
      for (const p of removed) objects.services.delete(p);
      // ConnMan sends an empty dict for services in the order whose properties did not change.
      signal(
        PATHS.manager,
        INTERFACES.manager,
        METHODS.managerSignals.ServicesChanged,
        SIGNATURES.ServicesChanged,
        () => [order.map((s) => [s.path, s.props ? encodeDict(s.props) : {}]), removed],
      );
    },

    servicePropertyChanged(serviceId: string, name: string, value: Prop): void {
      signal(
        servicePath(serviceId),
        INTERFACES.service,
        METHODS.managerSignals.PropertyChanged,
        SIGNATURES.PropertyChanged,
        () => [name, toVariant(value)],
      );
    },

    serviceStatusChanged(changed: Array<{ path: string; props: PropDict }>): void {
      signal(
        PATHS.manager,
        NETSESSION_MANAGER_INTERFACE,
        NETSESSION_METHODS.managerSignals.ServiceStatusChanged,
        NETSESSION_SIGNATURES.ServiceStatusChanged,
        () => [changed.map((s) => [s.path, encodeDict(s.props)])],
      );
    },

    technologyAdded(path: string, props: PropDict): void {
      objects.technologies.add(path);
      signal(
        PATHS.manager,
        INTERFACES.manager,
        METHODS.managerSignals.TechnologyAdded,
        SIGNATURES.TechnologyAdded,
        () => [path, encodeDict(props)],
      );
    },

    technologyRemoved(path: string): void {
      objects.technologies.delete(path);
      signal(
        PATHS.manager,
        INTERFACES.manager,
        METHODS.managerSignals.TechnologyRemoved,
        SIGNATURES.TechnologyRemoved,
        () => [path],
      );
    },

    technologyPropertyChanged(path: string, name: string, value: Prop): void {
      signal(path, INTERFACES.technology, METHODS.managerSignals.PropertyChanged, SIGNATURES.PropertyChanged, () => [
        name,
        toVariant(value),
      ]);
    },

    managerPropertyChanged(name: string, value: Prop): void {
      signal(
        PATHS.manager,
        INTERFACES.manager,
        METHODS.managerSignals.PropertyChanged,
        SIGNATURES.PropertyChanged,
        () => [name, toVariant(value)],
      );
    },
  };
}
