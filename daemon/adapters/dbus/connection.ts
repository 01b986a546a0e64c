/**
 * The daemon's bus connection: connect, own the name, watch clients leave, and know who is
 * calling. Everything here talks to `org.freedesktop.DBus` only, with raw messages over the
 * project's own wire module (lib/dbus), which the SDK uses too.
 */
import { BusSocket, busMethod, DBUS_NAME } from '../../../lib/dbus/bus-socket.js';
import { type Message, NameFlag, RequestNameReply } from '../../../lib/dbus/message.js';
import type { BusCaller } from '../../api.js';
import type { Logger } from '../../ports.js';

export { DEFAULT_SYSTEM_BUS } from '../../../lib/dbus/bus-socket.js';
/** A D-Bus message as the adapter sends and receives it. */
export type DBusMessage = Message;

const CONNECT_TIMEOUT_MS = 10_000;
/** The bus answers its own methods at once; a call that hangs longer means the bus is broken. */
const BUS_CALL_TIMEOUT_MS = 25_000;

// Only disappearances: arg2 (the new owner) empty. One rule for the daemon's whole life, so
// 10,000 clients cost no match rules and no wakeups when they merely appear.
const NAME_LOST_RULE = `type='signal',sender='${DBUS_NAME}',path='/org/freedesktop/DBus',interface='${DBUS_NAME}',member='NameOwnerChanged',arg2=''`;

/**
 * Credentials per unique name, fetched once per client with GetConnectionCredentials and kept
 * until the client leaves the bus, so a client's second call costs no round trip.
 */
export class CredentialCache {
  readonly #entries = new Map<string, { value?: BusCaller; promise: Promise<BusCaller> }>();

  constructor(private readonly fetch: (sender: string) => Promise<BusCaller>) {}

  /** The caller if already known (lets hot paths stay synchronous). */
  cached(sender: string): BusCaller | undefined {
    return this.#entries.get(sender)?.value;
  }

  get(sender: string): Promise<BusCaller> {
    const hit = this.#entries.get(sender);
    if (hit) return hit.promise;
    const entry: { value?: BusCaller; promise: Promise<BusCaller> } = {
      promise: this.fetch(sender).then(
        (caller) => {
          entry.value = caller;
          return caller;
        },
        (err: unknown) => {
          // Never cache a failure: the next call asks the bus again.
          if (this.#entries.get(sender) === entry) this.#entries.delete(sender);
          throw err;
        },
      ),
    };
    this.#entries.set(sender, entry);
    return entry.promise;
  }

  forget(sender: string): void {
    this.#entries.delete(sender);
  }

  get size(): number {
    return this.#entries.size;
  }
}

type CredentialDict = Record<string, { value: unknown } | undefined>;

/** Parses GetConnectionCredentials' `a{sv}` (dbus 1.14 sends UnixUserID, UnixGroupIDs, ProcessID). */
export function callerFromCredentials(sender: string, creds: CredentialDict): BusCaller {
  const uid = creds.UnixUserID?.value;
  if (typeof uid !== 'number') throw new Error(`the bus reported no UnixUserID for ${sender}`);
  const gids = creds.UnixGroupIDs?.value;
  const pid = creds.ProcessID?.value;
  return {
    sender,
    uid,
    gids: Array.isArray(gids) ? gids.filter((g): g is number => typeof g === 'number') : [],
    pid: typeof pid === 'number' ? pid : undefined,
  };
}

/** Options for {@link openBusConnection}. */
export interface ConnectionOptions {
  address: string;
  log: Logger;
  /** A unique name (a client connection) left the bus. */
  onClientLost(uniqueName: string): void;
  /** Every incoming method call; return true when handled (the rest get Peer or UnknownMethod). */
  onMethodCall(msg: DBusMessage): boolean;
}

/** A connected bus, ready to own a name. */
export interface BusConnection {
  readonly uniqueName: string;
  readonly credentials: CredentialCache;
  /** False once the stream closed (stop, or the bus went away). */
  readonly open: boolean;
  /** Writes one message now; throws if it cannot be marshalled or the stream is closed. */
  send(msg: DBusMessage): void;
  /** Runs `fn`; what it sends leaves in one write when it returns. */
  batch<T>(fn: () => T): T;
  /** Writes what this turn has sent so far now (sends are otherwise written at the turn's end). */
  flush(): void;
  call(msg: DBusMessage): Promise<DBusMessage>;
  /** Requests `name` with DO_NOT_QUEUE; rejects with a clear Error if someone else owns it. */
  requestName(name: string): Promise<void>;
  releaseName(name: string): Promise<void>;
  close(): void;
}

/**
 * Connects, installs the method-call hook and the client watch (before any name is owned, so no
 * call and no departure can be missed), and returns the connection.
 */
export async function openBusConnection(opts: ConnectionOptions): Promise<BusConnection> {
  let bus: BusSocket;
  try {
    bus = await BusSocket.connect(opts.address, CONNECT_TIMEOUT_MS);
    bus.coalesceWrites();
  } catch (err) {
    throw new Error(
      `cannot connect to the bus at ${opts.address}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const { log } = opts;
  bus.onClose = (err) => log('error', `the bus closed the connection: ${err.message}`);
  bus.onMalformed = (err) => log('warn', `dropped a malformed D-Bus message: ${err.message}`);

  const call = (msg: DBusMessage): Promise<DBusMessage> => bus.call(msg, BUS_CALL_TIMEOUT_MS);

  const credentials = new CredentialCache(async (sender) => {
    const reply = await call(busMethod('GetConnectionCredentials', 's', [sender]));
    return callerFromCredentials(sender, (reply.body[0] ?? {}) as CredentialDict);
  });

  bus.onSignal = (msg) => {
    if (msg.member !== 'NameOwnerChanged' || msg.sender !== DBUS_NAME || msg.signature !== 'sss') return;
    const [name, , newOwner] = msg.body as [string, string, string];
    if (newOwner !== '' || !name.startsWith(':')) return;
    credentials.forget(name);
    opts.onClientLost(name);
  };
  bus.onMethodCall = (msg) => opts.onMethodCall(msg);

  try {
    await call(busMethod('AddMatch', 's', [NAME_LOST_RULE]));
  } catch (err) {
    bus.close();
    throw new Error(`cannot watch clients leaving the bus (AddMatch): ${(err as Error).message}`);
  }

  return {
    uniqueName: bus.uniqueName,
    credentials,
    get open() {
      return bus.open;
    },
    send(msg) {
      bus.send(msg);
    },
    batch: (fn) => bus.batch(fn),
    flush: () => bus.flush(),
    call,
    async requestName(name) {
      let result: unknown;
      try {
        result = (await call(busMethod('RequestName', 'su', [name, NameFlag.DO_NOT_QUEUE]))).body[0];
      } catch (err) {
        throw new Error(`cannot own the bus name ${name}: ${(err as Error).message}`);
      }
      if (result === RequestNameReply.PRIMARY_OWNER || result === RequestNameReply.ALREADY_OWNER) return;
      throw new Error(
        `the bus name ${name} is already owned by another process (is connmand or another netsessiond running?)`,
      );
    },
    async releaseName(name) {
      await call(busMethod('ReleaseName', 's', [name]));
    },
    close() {
      // end() flushes what is already written (a shutdown's Releases) before closing.
      bus.close();
    },
  };
}
