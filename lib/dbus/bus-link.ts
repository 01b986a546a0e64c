/**
 * One client connection to the bus, as the D-Bus transport needs it: connected with a timeout,
 * calls with a timeout and typed errors, the daemon's current owner ({@link NameOwner}), and the
 * end of the connection noticed. Built on the project's own
 * wire module ({@link BusSocket}); match rules are added and removed by hand, with AddMatch and
 * RemoveMatch calls.
 */
import {
  DaemonUnavailableError,
  NativeModuleMissingError,
  type NetsessionError,
  ProtocolError,
  TimeoutError,
} from '../errors.js';
import { type CallTarget, errorFromReply } from '../reply-errors.js';
import { BusSocket, busMethod, CallTimeoutError, ConnectionClosedError, DBUS_NAME } from './bus-socket.js';
import { DBusError, type Message, MessageType } from './message.js';
import { NameOwner } from './name-owner.js';

export { DEFAULT_SYSTEM_BUS } from './bus-socket.js';
/** A D-Bus message as the link sends and receives it. */
export type DBusMessage = Message;

/** What {@link BusLink.owner} says on a peer link (no bus name: the other end is the daemon). */
const PEER_OWNER = '(peer)';

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

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A connected bus client; see the file comment. */
export class BusLink {
  readonly #bus: BusSocket;
  readonly #opts: BusLinkOptions;
  /** Null on a peer link: the other end is the daemon itself. */
  readonly #owner: NameOwner | null;
  #open = true;
  #holds = 0;
  readonly #pending = new Set<(err: NetsessionError) => void>();

  private constructor(b: BusSocket, opts: BusLinkOptions, peer = false) {
    this.#bus = b;
    this.#opts = opts;
    this.#owner = peer
      ? null
      : new NameOwner(opts.busName, (previous, current) => opts.events.ownerChanged(previous, current));
  }

  /**
   * A link straight to the daemon's private socket (`address` as its GetPeerAddress gave it,
   * with the GUID the server must show). No bus: no owner to watch, no match rules, and every
   * message on it is the daemon's. Rejects with {@link DaemonUnavailableError} (`bus-unreachable`).
   */
  static async openPeer(opts: Omit<BusLinkOptions, 'busName'> & { busName?: string }): Promise<BusLink> {
    let b: BusSocket;
    try {
      b = await BusSocket.connectPeer(opts.address, opts.callTimeout);
    } catch (err) {
      throw new DaemonUnavailableError(
        'bus-unreachable',
        `cannot connect to the daemon at ${opts.address}: ${errorText(err)}`,
        { cause: err },
      );
    }
    const link = new BusLink(b, { busName: '', ...opts }, true);
    link.#start();
    link.#refresh();
    return link;
  }

  /**
   * Connects, watches the daemon's name and learns its owner. Rejects with
   * {@link DaemonUnavailableError} (`bus-unreachable`), or {@link NativeModuleMissingError} when
   * the address is abstract and koffi is missing (the app must act, so it is not hidden in a cause).
   */
  static async open(opts: BusLinkOptions): Promise<BusLink> {
    let b: BusSocket;
    try {
      b = await BusSocket.connect(opts.address, opts.callTimeout);
    } catch (err) {
      if (err instanceof NativeModuleMissingError) throw err;
      throw new DaemonUnavailableError(
        'bus-unreachable',
        `cannot connect to the bus at ${opts.address}: ${errorText(err)}`,
        { cause: err },
      );
    }
    const link = new BusLink(b, opts);
    link.#start();
    try {
      await link.#owner!.start((msg, target) => link.call(msg, target));
    } catch (err) {
      link.close();
      throw err instanceof DaemonUnavailableError
        ? err
        : new DaemonUnavailableError(
            'bus-unreachable',
            `the bus at ${opts.address} refused the SDK: ${errorText(err)}`,
            { cause: err },
          );
    }
    link.#refresh();
    return link;
  }

  /** Unique name of the daemon's current owner, or `null`; on a peer link, {@link PEER_OWNER}. */
  get owner(): string | null {
    return this.#owner ? this.#owner.current : PEER_OWNER;
  }

  /** True on a link to the daemon's private socket (see {@link BusLink.openPeer}). */
  get peer(): boolean {
    return this.#owner === null;
  }

  /** Whether `msg` comes from the daemon (its current owner on the bus; anything on a peer link). */
  fromDaemon(msg: DBusMessage): boolean {
    if (!this.#owner) return true;
    const owner = this.#owner.current;
    return owner === null || msg.sender === owner;
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
    return new Promise<DBusMessage>((resolve, reject) => {
      let settled = false;
      const fail = (err: NetsessionError): void => {
        if (settled) return;
        settled = true;
        this.#pending.delete(fail);
        this.#refresh();
        reject(err);
      };
      this.#pending.add(fail);
      this.#refresh();
      this.#bus.call(msg, this.#opts.callTimeout).then(
        (reply) => {
          if (settled) return;
          settled = true;
          this.#pending.delete(fail);
          this.#refresh();
          resolve(reply);
        },
        (err: unknown) => fail(this.#translate(err, target, what)),
      );
    });
  }

  /** Adds a match rule; it stays until {@link BusLink.removeMatch} with the same string, or the connection ends. */
  async addMatch(rule: string): Promise<void> {
    // A peer link gets the daemon's signals without asking.
    if (this.peer) return;
    await this.call(busMethod('AddMatch', 's', [rule]), { kind: 'manager' });
  }

  /** Removes one match rule added with {@link BusLink.addMatch} (the bus counts identical rules). */
  async removeMatch(rule: string): Promise<void> {
    if (this.peer) return;
    await this.call(busMethod('RemoveMatch', 's', [rule]), { kind: 'manager' });
  }

  /** Sends a message that expects no reply (our answers to the daemon's Notification calls). */
  send(msg: DBusMessage): void {
    if (!this.#open) return;
    try {
      this.#bus.send(msg);
    } catch {
      // Closing, or a reply that cannot be marshalled: the daemon sees no answer, as with a dead client.
    }
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
    this.#bus.close();
  }

  #start(): void {
    this.#bus.onClose = () => {
      if (!this.#open) return;
      this.#open = false;
      const err = new DaemonUnavailableError('bus-closed', 'the connection to the bus closed');
      this.#failPending(err);
      this.#opts.events.closed(err);
    };
    this.#bus.onSignal = (msg) => {
      // Anyone may send us a unicast signal: only the daemon's own are passed on.
      if (!this.#owner) this.#opts.events.signal?.(msg);
      else if (msg.sender === DBUS_NAME) this.#owner.onBusSignal(msg);
      else if (this.#owner.current !== null && msg.sender === this.#owner.current) this.#opts.events.signal?.(msg);
    };
    this.#bus.onMethodCall = (msg) => msg.type === MessageType.METHOD_CALL && this.#opts.events.methodCall(msg, this);
  }

  #translate(err: unknown, target: CallTarget, what: string): NetsessionError {
    if (err instanceof DBusError) return errorFromReply(err.type, err.text, target, err);
    if (err instanceof CallTimeoutError)
      return new TimeoutError(`${what}: no reply within ${this.#opts.callTimeout} ms`, this.#opts.callTimeout);
    if (err instanceof ConnectionClosedError || !this.#open || !this.#bus.open) {
      return new DaemonUnavailableError('bus-closed', `${what}: the bus connection is closed`, { cause: err });
    }
    return new ProtocolError(`${what}: ${errorText(err)}`, { cause: err });
  }

  #failPending(err: NetsessionError): void {
    for (const fail of [...this.#pending]) fail(err);
  }

  /** Unref'd when idle, so an app with no live session and no call in flight can exit. */
  #refresh(): void {
    if (!this.#open) return;
    if (this.#holds > 0 || this.#pending.size > 0) this.#bus.ref();
    else this.#bus.unref();
  }
}
