/**
 * The daemon's D-Bus adapter: serves ConnMan's `net.connman` API (plus our extension
 * interfaces) by calling {@link DaemonApi}, and implements the {@link BusEvents} port.
 */
import { BUS_NAME } from '../../../lib/protocol.js';
import type { BusCaller, DaemonApi } from '../../api.js';
import type { BusEvents, Logger } from '../../ports.js';
import { type BusConnection, type DBusMessage, DEFAULT_SYSTEM_BUS, openBusConnection } from './connection.js';
import type { AdapterContext } from './context.js';
import { createBusEvents } from './events.js';
import { managerExtension, serviceExtension, sessionExtension } from './extension.js';
import { managerInterface } from './manager.js';
import { ObjectTable } from './objects.js';
import { PeerConnections } from './peers.js';
import { Router } from './router.js';
import { serviceInterface } from './service.js';
import { sessionInterface } from './session.js';
import { technologyInterface } from './technology.js';
import { UpdateGate } from './update-gate.js';

/** Options of {@link createDBusAdapter}. */
export interface DBusAdapterOptions {
  /** Bus address; default: env `DBUS_SYSTEM_BUS_ADDRESS`, else the system bus socket. */
  busAddress?: string;
  /** Well-known name to own; default {@link BUS_NAME}. Start fails if someone else owns it. */
  busName?: string;
  /**
   * Path of the private socket (peer-server.ts), where clients that find it through
   * GetPeerAddress call without the bus; none when unset or empty.
   */
  peerSocket?: string;
  log?: Logger;
}

/** The adapter as the runtime and daemon/main.ts use it. */
export interface DBusAdapter {
  /** The BusEvents port (usable before `start`: events are then only recorded, not sent). */
  events: BusEvents;
  /**
   * Starts connecting to the bus (socket, authentication, Hello, the match rule for clients
   * that leave) without exporting anything: daemon/main.ts calls it before the runtime reads its
   * files, so `start` finds the connection made. Optional; a failure surfaces from `start`.
   */
  connect(): void;
  /** Connects (unless `connect` did), exports the objects, owns the name. */
  start(api: DaemonApi): Promise<void>;
  /** Releases the name and disconnects (what was already sent is flushed first). Idempotent. */
  stop(): Promise<void>;
  /** Who `sender` is (GetConnectionCredentials: uid, gids, pid); cached until the client leaves. */
  getCaller(sender: string): Promise<BusCaller>;
}

/** Creates the D-Bus adapter. Nothing touches the bus until `start`. */
export function createDBusAdapter(opts: DBusAdapterOptions = {}): DBusAdapter {
  const log: Logger = opts.log ?? (() => {});
  const busName = opts.busName ?? BUS_NAME;
  const objects = new ObjectTable();
  const gate = new UpdateGate<DBusMessage>();
  let conn: BusConnection | null = null;
  let api: DaemonApi | null = null;
  let starting = false;
  let router: Router | null = null;
  /** The connection `connect` began (its failure is handled here and rethrown by `start`). */
  let connecting: Promise<BusConnection> | null = null;
  const open = (): Promise<BusConnection> =>
    openBusConnection({
      address: opts.busAddress || process.env.DBUS_SYSTEM_BUS_ADDRESS || DEFAULT_SYSTEM_BUS,
      log,
      onMethodCall: (msg) => (router ? router.handle(msg) : false),
      onClientLost: (name) => router?.clientLost(name),
    });
  const peers = new PeerConnections({
    objects,
    clientGone: (name) => api?.clientGone(name),
    log,
  });

  const emit = (msg: DBusMessage): void => {
    if (msg.destination !== '' && peers.owns(msg.destination)) {
      peers.send(msg);
      return;
    }
    if (!conn?.open) {
      log('debug', `bus not connected, dropped ${msg.member} for ${msg.destination || msg.path}`);
      return;
    }
    try {
      conn.send(msg);
    } catch (err) {
      log('warn', `cannot send ${msg.member} to ${msg.destination || msg.path}: ${(err as Error).message}`);
    }
  };

  const ctx: AdapterContext = {
    api() {
      if (!api) throw new Error('the D-Bus adapter is not started');
      return api;
    },
    objects,
    gate,
    emit,
    peerAddress: () => peers.address,
    log,
  };
  const manager = [managerInterface(ctx), managerExtension(ctx)];
  objects.setKinds({
    manager,
    service: [serviceInterface(ctx), serviceExtension(ctx)],
    technology: [technologyInterface(ctx)],
    session: [sessionInterface(ctx), sessionExtension(ctx)],
  });

  const flush = (): void => {
    conn?.flush();
    peers.flush();
  };
  const events = createBusEvents({ objects, gate, emit, flush, log });

  return {
    events,

    connect(): void {
      if (connecting || conn) return;
      connecting = open();
      connecting.catch(() => {});
    },

    async start(daemon: DaemonApi): Promise<void> {
      if (conn || starting) throw new Error('the D-Bus adapter is already started');
      starting = true;
      try {
        api = daemon;
        // Seed the object table: the daemon may have produced its services before the bus was up.
        for (const s of daemon.services()) objects.services.add(s.path);
        for (const t of daemon.technologies()) objects.technologies.add(t.path);
        const pending = connecting ?? open();
        connecting = null;
        const c = await pending;
        router = new Router({
          objects,
          send: (m) => c.send(m),
          batch: (fn) => c.batch(fn),
          isOpen: () => c.open,
          credentials: c.credentials,
          clientGone: (name) => daemon.clientGone(name),
          log,
        });
        // Listening before the name is owned: a client that finds the daemon finds its socket too.
        if (opts.peerSocket) await peers.listen(opts.peerSocket);
        try {
          await c.requestName(busName);
        } catch (err) {
          peers.close();
          c.close();
          router = null;
          throw err;
        }
        conn = c;
        log('info', `D-Bus: owning ${busName} as ${c.uniqueName}`);
      } catch (err) {
        api = null;
        throw err;
      } finally {
        starting = false;
      }
    },

    async stop(): Promise<void> {
      // A connection `connect` began that `start` never took.
      connecting?.then(
        (early) => early.close(),
        () => {},
      );
      connecting = null;
      const c = conn;
      if (!c) return;
      conn = null;
      if (c.open) {
        try {
          await c.releaseName(busName);
        } catch (err) {
          log('debug', `releasing ${busName}: ${(err as Error).message}`);
        }
      }
      peers.close();
      c.close();
    },

    getCaller(sender: string): Promise<BusCaller> {
      if (!conn) return Promise.reject(new Error('the D-Bus adapter is not started'));
      if (peers.owns(sender)) {
        const caller = peers.caller(sender);
        return caller ? Promise.resolve(caller) : Promise.reject(new Error(`${sender} is not connected`));
      }
      return conn.credentials.get(sender);
    },
  };
}
