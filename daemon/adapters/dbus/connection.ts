/**
 * The daemon's bus connection: connect, own the name, watch clients leave, and know who is
 * calling. Everything here talks to `org.freedesktop.DBus` only, with raw messages — no proxy
 * objects, so dbus-next's signal bookkeeping (and its match-rule leak) stays out of the daemon.
 */
import dbus from 'dbus-next';
import type { BusCaller, Logger } from '../../ports.js';

const { Message, MessageType, NameFlag, RequestNameReply } = dbus;
/** dbus-next's message class instance type. */
export type DBusMessage = InstanceType<typeof Message>;
type MessageBus = ReturnType<typeof dbus.sessionBus>;

const DBUS_NAME = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';
const CONNECT_TIMEOUT_MS = 10_000;
/** Where the system bus lives when DBUS_SYSTEM_BUS_ADDRESS is not set (the D-Bus spec's default). */
export const DEFAULT_SYSTEM_BUS = 'unix:path=/var/run/dbus/system_bus_socket';

// Only disappearances: arg2 (the new owner) empty. One rule for the daemon's whole life, so
// 10,000 clients cost no match rules and no wakeups when they merely appear.
const NAME_LOST_RULE = `type='signal',sender='${DBUS_NAME}',path='${DBUS_PATH}',interface='${DBUS_NAME}',member='NameOwnerChanged',arg2=''`;

function busCall(member: string, signature = '', body: unknown[] = []): DBusMessage {
  return new Message({ destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_NAME, member, signature, body });
}

const PATCHED = Symbol.for('netsession.dbus-next.matchRulesPatched');

/**
 * dbus-next 0.10.2 swaps the arguments of `hasOwnProperty.call` in `_addMatch`/`_removeMatch`:
 * every subscription sends AddMatch and no unsubscription ever sends RemoveMatch, so a long-lived
 * process runs into `max_match_rules_per_connection` (upstream PR #110, unmerged). This fixes the
 * shared prototype, i.e. every MessageBus in the process (the daemon uses no proxies, but tools
 * and tests in the same process do). Idempotent.
 */
export function patchMatchRuleLeak(bus: MessageBus): void {
  const proto = Object.getPrototypeOf(bus) as Record<PropertyKey, unknown>;
  if (proto[PATCHED]) return;
  type Internals = { _matchRules: Record<string, number>; _connection: { stream: { writable: boolean } }; call(m: DBusMessage): Promise<unknown> };
  const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  proto._addMatch = function (this: Internals, match: string) {
    if (own(this._matchRules, match)) {
      this._matchRules[match]! += 1;
      return Promise.resolve();
    }
    this._matchRules[match] = 1;
    return this.call(busCall('AddMatch', 's', [match]));
  };
  proto._removeMatch = function (this: Internals, match: string) {
    if (!this._connection.stream.writable || !own(this._matchRules, match)) return Promise.resolve();
    this._matchRules[match]! -= 1;
    if (this._matchRules[match]! > 0) return Promise.resolve();
    delete this._matchRules[match];
    return this.call(busCall('RemoveMatch', 's', [match]));
  };
  proto[PATCHED] = true;
}

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
  /** Every incoming method call, before dbus-next's own dispatch; return true when handled. */
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
  call(msg: DBusMessage): Promise<DBusMessage>;
  /** Requests `name` with DO_NOT_QUEUE; rejects with a clear Error if someone else owns it. */
  requestName(name: string): Promise<void>;
  releaseName(name: string): Promise<void>;
  close(): void;
}

function connect(address: string): Promise<MessageBus> {
  return new Promise((resolve, reject) => {
    let bus: MessageBus;
    try {
      bus = dbus.sessionBus({ busAddress: address });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const timer = setTimeout(() => fail(new Error(`no answer from the bus at ${address} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      bus.removeListener('connect', ok);
      try {
        bus.disconnect();
      } catch {
        // already closed
      }
      reject(new Error(`cannot connect to the bus at ${address}: ${err instanceof Error ? err.message : String(err)}`));
    };
    const ok = () => {
      clearTimeout(timer);
      bus.removeListener('error', fail);
      resolve(bus);
    };
    bus.once('connect', ok);
    bus.once('error', fail);
  });
}

/**
 * Connects, installs the method-call hook and the client watch (before any name is owned, so no
 * call and no departure can be missed), and returns the connection.
 */
export async function openBusConnection(opts: ConnectionOptions): Promise<BusConnection> {
  const bus = await connect(opts.address);
  const { log } = opts;
  patchMatchRuleLeak(bus);
  let open = true;
  // Without a listener, a write after the stream ended would throw from an EventEmitter.
  bus.on('error', (err: unknown) => log('error', `bus connection error: ${err instanceof Error ? err.message : String(err)}`));
  const internals = bus as unknown as { name: string | null; _connection: { on(ev: 'end', fn: () => void): void } };
  internals._connection.on('end', () => {
    if (open) log('error', 'the bus closed the connection');
    open = false;
  });

  const call = async (msg: DBusMessage): Promise<DBusMessage> => {
    const reply = await bus.call(msg);
    if (!reply) throw new Error(`no reply to ${msg.member}`);
    return reply;
  };

  const credentials = new CredentialCache(async (sender) => {
    const reply = await call(busCall('GetConnectionCredentials', 's', [sender]));
    return callerFromCredentials(sender, (reply.body[0] ?? {}) as CredentialDict);
  });

  bus.on('message', (msg: DBusMessage) => {
    if (msg.type !== MessageType.SIGNAL || msg.member !== 'NameOwnerChanged' || msg.sender !== DBUS_NAME) return;
    const [name, , newOwner] = msg.body as [string, string, string];
    if (newOwner !== '' || !name.startsWith(':')) return;
    credentials.forget(name);
    opts.onClientLost(name);
  });
  bus.addMethodHandler((msg: DBusMessage) => opts.onMethodCall(msg));

  try {
    await call(busCall('AddMatch', 's', [NAME_LOST_RULE]));
  } catch (err) {
    bus.disconnect();
    throw new Error(`cannot watch clients leaving the bus (AddMatch): ${(err as Error).message}`);
  }

  const uniqueName = internals.name ?? '';
  return {
    uniqueName,
    credentials,
    get open() {
      return open;
    },
    send(msg) {
      if (!open) throw new Error('the bus connection is closed');
      bus.send(msg);
    },
    call,
    async requestName(name) {
      let result: number;
      try {
        result = await bus.requestName(name, NameFlag.DO_NOT_QUEUE);
      } catch (err) {
        throw new Error(`cannot own the bus name ${name}: ${(err as Error).message}`);
      }
      if (result === RequestNameReply.PRIMARY_OWNER || result === RequestNameReply.ALREADY_OWNER) return;
      throw new Error(`the bus name ${name} is already owned by another process (is connmand or another netsessiond running?)`);
    },
    async releaseName(name) {
      await bus.releaseName(name);
    },
    close() {
      if (!open) return;
      open = false;
      // end() flushes what is already written (a shutdown's Releases) before closing.
      bus.disconnect();
    },
  };
}
