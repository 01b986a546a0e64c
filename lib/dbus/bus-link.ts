/**
 * One client connection to the bus, as the D-Bus transport needs it: connected with a timeout,
 * calls with a timeout and typed errors, the daemon's current owner (GetNameOwner plus one
 * NameOwnerChanged match), and the end of the connection noticed.
 *
 * No proxy objects are used, so dbus-next's match-rule leak (its _addMatch/_removeMatch swap
 * hasOwnProperty's arguments and never send RemoveMatch) cannot occur: match rules are added and
 * removed by hand, with AddMatch and RemoveMatch calls of our own.
 */
import dbus from 'dbus-next';
import { DaemonUnavailableError, ProtocolError, TimeoutError, type NetsessionError } from '../errors.js';
import { errorFromReply, type CallTarget } from '../reply-errors.js';

const { Message, MessageType } = dbus;
/** dbus-next's Message instance. */
export type DBusMessage = InstanceType<typeof Message>;
type MessageBus = ReturnType<typeof dbus.sessionBus>;

const DBUS_NAME = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';
/** The D-Bus specification's default system bus address. */
export const DEFAULT_SYSTEM_BUS = 'unix:path=/var/run/dbus/system_bus_socket';

interface Internals {
  _connection: { stream: { ref?(): void; unref?(): void; writable: boolean; once(ev: 'close', fn: () => void): void } };
  _methodReturnHandlers: Record<number, unknown>;
  _nameOwners: Record<string, string | undefined>;
  name: string | null;
}

/** What the link reports to its owner. */
export interface BusLinkEvents {
  /** The owner of the daemon's name changed (`null`: nobody owns it). */
  ownerChanged(previous: string | null, current: string | null): void;
  /** The connection ended (the bus closed it, or it failed). Not called for {@link BusLink.close}. */
  closed(error: DaemonUnavailableError): void;
  /** An incoming method call on `link`; return true when handled (and answered). */
  methodCall(msg: DBusMessage, link: BusLink): boolean;
  /** A signal from the daemon's current owner (delivered only for match rules added with {@link BusLink.addMatch}). */
  signal?(msg: DBusMessage): void;
}

/** Options of {@link BusLink.open}. */
export interface BusLinkOptions {
  address: string;
  /** The daemon's well-known name to watch. */
  busName: string;
  /** Milliseconds for connecting and for each call. */
  callTimeout: number;
  events: BusLinkEvents;
}

function bus(member: string, signature = '', body: unknown[] = []): DBusMessage {
  return new Message({ destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_NAME, member, signature, body });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A connected bus client; see the file comment. */
export class BusLink {
  readonly #bus: MessageBus;
  readonly #opts: BusLinkOptions;
  #owner: string | null = null;
  #open = true;
  #holds = 0;
  readonly #pending = new Set<(err: NetsessionError) => void>();

  private constructor(b: MessageBus, opts: BusLinkOptions) {
    this.#bus = b;
    this.#opts = opts;
  }

  /** Connects, watches the daemon's name and learns its owner. Rejects with {@link DaemonUnavailableError} (`bus-unreachable`). */
  static async open(opts: BusLinkOptions): Promise<BusLink> {
    const b = await connect(opts.address, opts.callTimeout);
    const link = new BusLink(b, opts);
    link.#start();
    try {
      const rule = `type='signal',sender='${DBUS_NAME}',path='${DBUS_PATH}',interface='${DBUS_NAME}',member='NameOwnerChanged',arg0='${opts.busName}'`;
      await link.call(bus('AddMatch', 's', [rule]), { kind: 'manager' });
      link.#owner = await link.#getOwner();
    } catch (err) {
      link.close();
      throw err instanceof DaemonUnavailableError ? err : new DaemonUnavailableError('bus-unreachable', `the bus at ${opts.address} refused the SDK: ${errorText(err)}`, { cause: err });
    }
    link.#refresh();
    return link;
  }

  /** Unique name of the daemon's current owner, or `null`. */
  get owner(): string | null {
    // dbus-next notes the sender of every reply synchronously, before our own continuation runs:
    // the first Update can be read right after the CreateSession reply, in the same tick.
    const seen = this.#internals._nameOwners[this.#opts.busName];
    return this.#owner ?? (seen?.startsWith(':') ? seen : null);
  }

  /** False once the connection ended or was closed. */
  get open(): boolean {
    return this.#open;
  }

  /**
   * Sends a method call and waits for its reply. Errors become SDK errors (`target` decides
   * what the bus's own error names mean); no reply within `callTimeout` is a {@link TimeoutError}.
   */
  call(msg: DBusMessage, target: CallTarget): Promise<DBusMessage> {
    if (!this.#open) return Promise.reject(new DaemonUnavailableError('bus-closed', 'the bus connection is closed'));
    const what = `${msg.interface}.${msg.member}`;
    const timeout = this.#opts.callTimeout;
    return new Promise<DBusMessage>((resolve, reject) => {
      const fail = (err: NetsessionError): void => done(() => reject(err));
      const timer = setTimeout(() => {
        // dbus-next keeps a handler per serial until a reply comes; this one never will.
        if (msg.serial !== null) delete this.#internals._methodReturnHandlers[msg.serial];
        fail(new TimeoutError(`${what}: no reply within ${timeout} ms`, timeout));
      }, timeout);
      let settled = false;
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(fail);
        this.#refresh();
        fn();
      };
      this.#pending.add(fail);
      this.#refresh();
      this.#bus.call(msg).then(
        (reply) => done(() => (reply ? resolve(reply) : reject(new ProtocolError(`${what}: empty reply`)))),
        (err: unknown) => fail(this.#translate(err, target, what)),
      );
    });
  }

  /** Adds a match rule; it stays until {@link BusLink.removeMatch} with the same string, or the connection ends. */
  async addMatch(rule: string): Promise<void> {
    await this.call(bus('AddMatch', 's', [rule]), { kind: 'manager' });
  }

  /** Removes one match rule added with {@link BusLink.addMatch} (the bus counts identical rules). */
  async removeMatch(rule: string): Promise<void> {
    await this.call(bus('RemoveMatch', 's', [rule]), { kind: 'manager' });
  }

  /** Sends a message that expects no reply (our answers to the daemon's Notification calls). */
  send(msg: DBusMessage): void {
    if (this.#open) this.#bus.send(msg);
  }

  /** While holds are taken the connection keeps the process alive (live sessions do); release with the returned function. */
  hold(): () => void {
    this.#holds += 1;
    this.#refresh();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds -= 1;
      this.#refresh();
    };
  }

  /** Disconnects; pending calls reject with {@link DaemonUnavailableError} (`bus-closed`). Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#failPending(new DaemonUnavailableError('bus-closed', 'the bus connection was closed'));
    try {
      this.#bus.disconnect();
    } catch {
      // already gone
    }
  }

  get #internals(): Internals {
    return this.#bus as unknown as Internals;
  }

  #start(): void {
    // Without a listener, an error on the stream would be thrown from the EventEmitter.
    this.#bus.on('error', () => undefined);
    this.#internals._connection.stream.once('close', () => {
      if (!this.#open) return;
      this.#open = false;
      const err = new DaemonUnavailableError('bus-closed', 'the connection to the bus closed');
      this.#failPending(err);
      this.#opts.events.closed(err);
    });
    this.#bus.on('message', (msg: DBusMessage) => {
      if (msg.type !== MessageType.SIGNAL) return;
      // Anyone may send us a unicast signal: only the daemon's own are passed on.
      if (msg.sender !== DBUS_NAME) {
        const owner = this.owner;
        if (owner !== null && msg.sender === owner) this.#opts.events.signal?.(msg);
        return;
      }
      if (msg.member !== 'NameOwnerChanged') return;
      const [name, , now] = msg.body as [string, string, string];
      if (name !== this.#opts.busName) return;
      const previous = this.#owner;
      this.#owner = now || null;
      if (previous !== this.#owner) this.#opts.events.ownerChanged(previous, this.#owner);
    });
    this.#bus.addMethodHandler((msg: DBusMessage) => this.#opts.events.methodCall(msg, this));
  }

  async #getOwner(): Promise<string | null> {
    try {
      const reply = await this.call(bus('GetNameOwner', 's', [this.#opts.busName]), { kind: 'manager' });
      return (reply.body[0] as string) || null;
    } catch (err) {
      if (err instanceof DaemonUnavailableError && err.reason === 'no-daemon') return null;
      throw err;
    }
  }

  #translate(err: unknown, target: CallTarget, what: string): NetsessionError {
    const e = err as { type?: unknown; text?: unknown };
    if (typeof e?.type === 'string') return errorFromReply(e.type, typeof e.text === 'string' ? e.text : '', target, err);
    if (!this.#open || !this.#internals._connection.stream.writable) {
      return new DaemonUnavailableError('bus-closed', `${what}: the bus connection is closed`, { cause: err });
    }
    return new ProtocolError(`${what}: ${errorText(err)}`, { cause: err });
  }

  #failPending(err: NetsessionError): void {
    for (const fail of [...this.#pending]) fail(err);
  }

  /** Unref'd when idle, so an app with no live session and no call in flight can exit. */
  #refresh(): void {
    const stream = this.#internals._connection.stream;
    if (!this.#open) return;
    if (this.#holds > 0 || this.#pending.size > 0) stream.ref?.();
    else stream.unref?.();
  }
}

function connect(address: string, timeout: number): Promise<MessageBus> {
  return new Promise((resolve, reject) => {
    let b: MessageBus;
    try {
      b = dbus.sessionBus({ busAddress: address });
    } catch (err) {
      reject(new DaemonUnavailableError('bus-unreachable', `cannot connect to the bus at ${address}: ${errorText(err)}`, { cause: err }));
      return;
    }
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      b.removeListener('connect', ok);
      b.removeListener('error', fail);
      // Keep a listener: the dying stream may still emit errors.
      b.on('error', () => undefined);
      try {
        b.disconnect();
      } catch {
        // never connected
      }
      reject(new DaemonUnavailableError('bus-unreachable', `cannot connect to the bus at ${address}: ${errorText(err)}`, { cause: err }));
    };
    const ok = (): void => {
      clearTimeout(timer);
      b.removeListener('error', fail);
      resolve(b);
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeout} ms`)), timeout);
    b.once('connect', ok);
    b.once('error', fail);
  });
}
