/**
 * One connection to a D-Bus message bus over a unix socket (`unix:path=` or `unix:abstract=`,
 * address.ts): SASL EXTERNAL with our uid (sasl.ts), `Hello`, then messages framed off the stream, replies matched to
 * calls by serial, everything else handed to the owner. Each message is one buffer and one
 * socket write. The same framing serves peer-to-peer connections (no bus, no Hello), from
 * either side ({@link BusSocket.connectPeer}, {@link BusSocket.over}).
 *
 * A message that breaks the wire format never throws out of the socket's data handler: a bad
 * body of a method call is answered with `InvalidArgs`, any other bad body is dropped, and a bad
 * header (after which the stream cannot be resynchronised) ends the connection.
 */
import type { Socket } from 'node:net';
import type { KoffiImporter } from '../native/libc.js';
import { openSocket } from './abstract-socket.js';
import { guidOf, socketPathsOf } from './address.js';
import { busMethod, CallTimeoutError, ConnectionClosedError } from './bus-basics.js';
import { marshallMessage } from './marshall.js';
import { DBusError, Message, MessageFlag, MessageType } from './message.js';
import { peerReply } from './peer.js';
import { authenticate } from './sasl.js';
import { frameLength, MalformedMessageError, unmarshallMessage } from './unmarshall.js';

const BEGIN = Buffer.from('BEGIN\r\n', 'latin1');

export { DEFAULT_SYSTEM_BUS, socketPathOf, socketPathsOf } from './address.js';
export { busMethod, CallTimeoutError, ConnectionClosedError, DBUS_NAME, DBUS_PATH } from './bus-basics.js';

interface Pending {
  resolve(msg: Message): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | null;
}

/** A connected, authenticated bus connection; see the file comment. */
export class BusSocket {
  readonly #socket: Socket;
  #uniqueName = '';
  #serial = 0;
  #open = true;
  #corked = false;
  #coalesce = false;
  /** Inside {@link BusSocket.batch}; a flush asked for meanwhile is done at its end. */
  #inBatch = false;
  #flushWanted = false;
  readonly #pending = new Map<number, Pending>();
  #chunks: Buffer[] = [];
  #have = 0;
  #need = 16;
  #maxMessage = Number.POSITIVE_INFINITY;
  /** Signals, and method calls not claimed by {@link onMethodCall}. Set before the first call arrives. */
  onSignal: (msg: Message) => void = () => {};
  /** Incoming method calls; return true when answered (or going to be). Unclaimed calls get Peer or UnknownMethod. */
  onMethodCall: (msg: Message) => boolean = () => false;
  /** The connection ended (not called for {@link close}). */
  onClose: (err: Error) => void = () => {};
  /** A message could not be read (logged by the owner if it wants). */
  onMalformed: (err: MalformedMessageError) => void = () => {};

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  /**
   * Connects, authenticates and says Hello. Rejects on any failure, or after `timeoutMs`. An
   * abstract address that needs koffi where it is missing passes to the next address of the
   * list; {@link NativeModuleMissingError} when none is left. `importer` replaces koffi's import (tests).
   */
  static async connect(address: string, timeoutMs: number, importer?: KoffiImporter): Promise<BusSocket> {
    const socket = await openSocket(socketPathsOf(address), importer);
    await authenticate(socket, timeoutMs);
    const conn = BusSocket.over(socket);
    conn.#serial = 1;
    const hello = new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to Hello within ${timeoutMs} ms`)), timeoutMs);
      conn.#pending.set(1, { resolve, reject, timer });
    });
    // BEGIN and Hello in one write: the bus reads the binary protocol right after BEGIN.
    socket.write(Buffer.concat([BEGIN, marshallMessage(busMethod('Hello'), 1)]));
    try {
      const reply = await hello;
      conn.#uniqueName = typeof reply.body[0] === 'string' ? reply.body[0] : '';
    } catch (err) {
      conn.#open = false;
      socket.destroy();
      throw err;
    }
    return conn;
  }

  /**
   * A peer-to-peer connection (no bus, no Hello) to the server at `address`, which must name the
   * server's GUID (`guid=`): refused unless the server's `OK` line shows it, so a stale or
   * foreign socket at the same path is never taken for the server that published the address.
   */
  static async connectPeer(address: string, timeoutMs: number): Promise<BusSocket> {
    const guid = guidOf(address);
    if (!guid) throw new Error(`the address ${address} names no server GUID`);
    const socket = await openSocket(socketPathsOf(address), undefined);
    const serverGuid = await authenticate(socket, timeoutMs);
    if (serverGuid !== guid) {
      socket.destroy();
      throw new Error(`the server at ${address} is another one (GUID ${serverGuid})`);
    }
    socket.write(BEGIN);
    return BusSocket.over(socket);
  }

  /**
   * Message framing over a stream whose authentication is done (either side of it); `initial`
   * is what was read after the authentication's last line (a client may send BEGIN and its first
   * message in one write). A message longer than `maxMessage` bytes ends the connection.
   */
  static over(socket: Socket, initial?: Buffer, maxMessage = Number.POSITIVE_INFINITY): BusSocket {
    const conn = new BusSocket(socket);
    conn.#maxMessage = maxMessage;
    socket.on('data', (c: Buffer) => conn.#onData(c));
    conn.#watch();
    if (initial && initial.length > 0) conn.#onData(initial);
    return conn;
  }

  /** Our unique name on the bus (from Hello). */
  get uniqueName(): string {
    return this.#uniqueName;
  }

  /** False once the connection ended or was closed. */
  get open(): boolean {
    return this.#open;
  }

  /** Calls in flight. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** Bytes written but not yet taken by the kernel (a peer that stopped reading lets them grow). */
  get buffered(): number {
    return this.#socket.writableLength;
  }

  /**
   * Sends a method call and resolves with its reply. An error reply rejects with {@link DBusError};
   * no reply within `timeoutMs` (if given) with {@link CallTimeoutError}; the end of the connection
   * with {@link ConnectionClosedError}. A message that cannot be marshalled rejects with its TypeError.
   */
  call(msg: Message, timeoutMs?: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      let serial: number;
      try {
        serial = this.send(msg);
      } catch (err) {
        reject(err as Error);
        return;
      }
      const pending: Pending = { resolve, reject, timer: null };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(serial);
          reject(new CallTimeoutError(`${msg.interface}.${msg.member}: no reply within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#pending.set(serial, pending);
    });
  }

  /** Writes `msg` now and returns its serial. Throws if the connection is closed or the message cannot be marshalled. */
  send(msg: Message): number {
    if (!this.#open) throw new ConnectionClosedError('the bus connection is closed');
    if (this.#coalesce && !this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      // setImmediate, not nextTick: a message may be sent from a callback that libuv calls
      // through koffi (a netlink uv_poll watch), where Node runs no tick queue until its next own
      // callback; the check phase comes in this same loop iteration whoever sent.
      setImmediate(() => this.flush());
    }
    this.#serial = this.#serial >= 0xffffffff ? 1 : this.#serial + 1;
    const serial = this.#serial;
    this.#socket.write(marshallMessage(msg, serial));
    msg.serial = serial;
    return serial;
  }

  /**
   * Runs `fn`, and writes every message it sends in one system call (writev) when it returns:
   * a method's reply and the Updates released with it leave together. Nests.
   */
  batch<T>(fn: () => T): T {
    if (this.#inBatch || !this.#open) return fn();
    this.#inBatch = true;
    const corkHere = !this.#corked;
    if (corkHere) {
      this.#corked = true;
      this.#socket.cork();
    }
    try {
      return fn();
    } finally {
      this.#inBatch = false;
      if (corkHere || this.#flushWanted) {
        this.#flushWanted = false;
        this.flush();
      }
    }
  }

  /**
   * From now on, every message sent in one turn of the event loop leaves in one system call
   * (writev) at the end of that turn, not one write each: a daemon that releases many held
   * Updates at once (10,000 sessions applied) pays one syscall for them, and dbus-daemon reads a
   * call's reply, its Updates and the signals it caused in one go (measured: CreateSession({}) →
   * reply 1.28 → 0.57–0.65 ms paced). The delay is the rest of the current loop iteration.
   */
  coalesceWrites(): void {
    this.#coalesce = true;
  }

  /**
   * Writes what coalescing holds now, ahead of the work still to come in this turn. Inside
   * {@link BusSocket.batch} it waits for the batch's end, so the Updates a call releases leave in
   * one system call with its reply rather than one before it.
   */
  flush(): void {
    if (this.#inBatch) {
      this.#flushWanted = true;
      return;
    }
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  }

  /** Keeps the process alive while the connection is open (the default); {@link unref} lets it exit. */
  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  /** Flushes what was written, then disconnects; pending calls reject with {@link ConnectionClosedError}. Idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#socket.end();
    this.#failPending(new ConnectionClosedError('the bus connection was closed'));
  }

  #watch(): void {
    this.#socket.on('error', () => {
      // 'close' follows and reports the end.
    });
    this.#socket.on('close', () => {
      if (!this.#open) return;
      this.#open = false;
      const err = new ConnectionClosedError('the bus closed the connection');
      this.#failPending(err);
      this.onClose(err);
    });
  }

  #failPending(err: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
  }

  #onData(chunk: Buffer): void {
    let b = chunk;
    if (this.#have > 0) {
      this.#chunks.push(chunk);
      this.#have += chunk.length;
      if (this.#have < this.#need) return;
      b = Buffer.concat(this.#chunks, this.#have);
    }
    let at = 0;
    let need = 16;
    while (this.#open && b.length - at >= 16) {
      let len: number;
      try {
        len = frameLength(b, at);
        if (len > this.#maxMessage) throw new Error(`a message of ${len} bytes (at most ${this.#maxMessage})`);
      } catch (err) {
        this.#fatal(err as Error);
        return;
      }
      if (b.length - at < len) {
        need = len;
        break;
      }
      this.#dispatch(b, at, len);
      at += len;
    }
    const rest = b.length - at;
    if (rest === 0 || !this.#open) {
      this.#chunks = [];
      this.#have = 0;
      this.#need = 16;
      return;
    }
    // A copy of the tail only: the rest of the chunk need not stay alive.
    const tail = Buffer.from(b.subarray(at));
    this.#chunks = [tail];
    this.#have = rest;
    this.#need = need;
  }

  #dispatch(b: Buffer, at: number, len: number): void {
    let msg: Message;
    try {
      msg = unmarshallMessage(b, at, len);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) {
        // A reader bug must not escape the data handler either: the stream is not trusted any more.
        this.#fatal(err as Error);
        return;
      }
      this.onMalformed(err);
      if (!err.header) this.#fatal(err);
      else if (err.header.type === MessageType.METHOD_CALL)
        this.#replyError(err.header, 'org.freedesktop.DBus.Error.InvalidArgs', `malformed message: ${err.message}`);
      else if (err.header.type === MessageType.METHOD_RETURN || err.header.type === MessageType.ERROR)
        this.#settle(err.header.replySerial, null, err);
      return;
    }
    try {
      switch (msg.type) {
        case MessageType.METHOD_RETURN:
          this.#settle(msg.replySerial, msg, null);
          return;
        case MessageType.ERROR:
          this.#settle(
            msg.replySerial,
            null,
            new DBusError(msg.errorName, typeof msg.body[0] === 'string' ? msg.body[0] : '', msg),
          );
          return;
        case MessageType.SIGNAL:
          this.onSignal(msg);
          return;
        case MessageType.METHOD_CALL:
          if (!this.onMethodCall(msg)) this.#fallback(msg);
          return;
        default:
          // Unknown message types are ignored (the specification's rule).
          return;
      }
    } catch (err) {
      // A handler's bug must not take the connection down with it.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  #settle(serial: number, reply: Message | null, err: Error | null): void {
    const p = this.#pending.get(serial);
    if (!p) return;
    this.#pending.delete(serial);
    if (p.timer) clearTimeout(p.timer);
    if (reply) p.resolve(reply);
    else p.reject(err!);
  }

  /** org.freedesktop.DBus.Peer on every path; UnknownMethod for anything else nobody claimed. */
  #fallback(msg: Message): void {
    this.#reply(msg, peerReply(msg));
  }

  #replyError(call: Message, name: string, text: string): void {
    this.#reply(call, Message.newError(call, name, text));
  }

  #reply(call: Message, reply: Message): void {
    if (call.flags & MessageFlag.NO_REPLY_EXPECTED || !this.#open) return;
    try {
      this.send(reply);
    } catch {
      // closing
    }
  }

  #fatal(err: Error): void {
    if (!this.#open) return;
    this.#open = false;
    this.#socket.destroy();
    const closed = new ConnectionClosedError(`the bus sent a malformed message: ${err.message}`, { cause: err });
    this.#failPending(closed);
    this.onClose(closed);
  }
}
