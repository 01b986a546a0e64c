/**
 * Dispatch of incoming method calls: one handler for every object. What it does not claim
 * (org.freedesktop.DBus.Peer, Properties) the connection answers (Peer) or refuses
 * (UnknownMethod).
 *
 * The sender is read straight from the message, errors map through DBUS_ERROR_OF, sessions are
 * strings in a set (no exported object per session), and the moment the reply is written is
 * ours (CreateSession needs its reply out before the first Update).
 *
 * Wire behaviour copied from libdbus/gdbus, as connmand shows it: a known method with the wrong
 * signature gets UnknownMethod; a call on a path with no object (e.g. a destroyed session) gets
 * UnknownObject; Introspect works on every path (a plain node with children where nothing is
 * exported).
 */
import { Message, MessageFlag } from '../../../lib/dbus/message.js';
import { errorName } from '../../../lib/protocol.js';
import type { BusCaller } from '../../api.js';
import type { Logger } from '../../ports.js';
import type { DBusMessage } from './connection.js';
import { BUS_ERRORS, BusReplyError, toWireError } from './errors.js';
import type { InterfaceSpec, MethodCall, MethodSpec } from './interface-spec.js';
import { childNames, introspectXml } from './introspect.js';
import type { ObjectTable } from './objects.js';

const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable';
const PEER = 'org.freedesktop.DBus.Peer';
const PROPERTIES = 'org.freedesktop.DBus.Properties';

/** What the router needs from the rest of the adapter. */
export interface RouterDeps {
  objects: ObjectTable;
  /** Writes a message now; throws if it cannot. */
  send(msg: DBusMessage): void;
  /** Runs `fn`; the messages it sends leave in one write (default: as they are sent). */
  batch?<T>(fn: () => T): T;
  /** False once the connection closed (replies are then dropped quietly). */
  isOpen(): boolean;
  credentials: { cached(sender: string): BusCaller | undefined; get(sender: string): Promise<BusCaller> };
  /** Called once per client that left, after its last call in flight has been answered. */
  clientGone(uniqueName: string): void;
  log: Logger;
}

function isThenable(x: unknown): x is PromiseLike<readonly unknown[]> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

function findMethod(
  interfaces: readonly InterfaceSpec[],
  iface: string | undefined,
  member: string,
): { spec: InterfaceSpec; method: MethodSpec } | null {
  for (const spec of interfaces) {
    if (iface && spec.name !== iface) continue;
    if (Object.hasOwn(spec.methods, member)) return { spec, method: spec.methods[member]! };
  }
  return null;
}

/** Routes method calls to the interface tables of the {@link ObjectTable}. */
export class Router {
  readonly #d: RouterDeps;
  /** Calls still being answered, per sender (only asynchronous ones can be). */
  readonly #inflight = new Map<string, number>();
  /** Senders that left while a call of theirs was in flight. */
  readonly #lost = new Set<string>();

  constructor(deps: RouterDeps) {
    this.#d = deps;
  }

  /** The method-call hook: true when the call was answered (or will be). */
  readonly handle = (msg: DBusMessage): boolean => {
    const iface = msg.interface || undefined;
    const member = msg.member;
    const path = msg.path;
    const signature = msg.signature || '';
    if (iface === PEER) return false;
    const interfaces = this.#d.objects.interfacesAt(path);
    if ((iface === INTROSPECTABLE || iface === undefined) && member === 'Introspect' && signature === '') {
      this.#reply(msg, 's', [introspectXml(interfaces, childNames(path, this.#d.objects.paths()))]);
      return true;
    }
    if (!interfaces) {
      this.#error(msg, BUS_ERRORS.unknownObject, `No such object path '${path}'`);
      return true;
    }
    if (iface === PROPERTIES) return false;
    const found = findMethod(interfaces, iface, member);
    if (!found || found.method.in !== signature) {
      // libdbus' wording, which connmand clients see for the same mistake.
      this.#error(
        msg,
        BUS_ERRORS.unknownMethod,
        `Method "${member}" with signature "${signature}" on interface "${iface ?? '(null)'}" doesn't exist\n`,
      );
      return true;
    }
    this.#dispatch(msg, found.spec, member, found.method);
    return true;
  };

  /**
   * A client left the bus. Its departure reaches the daemon only after every call it made has
   * been answered, so a CreateSession still waiting for credentials or policy cannot outlive
   * the client's cleanup.
   */
  clientLost(uniqueName: string): void {
    if (this.#inflight.has(uniqueName)) this.#lost.add(uniqueName);
    else this.#gone(uniqueName);
  }

  #gone(uniqueName: string): void {
    try {
      this.#d.clientGone(uniqueName);
    } catch (err) {
      this.#d.log('error', `clientGone(${uniqueName}) failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  #dispatch(msg: DBusMessage, spec: InterfaceSpec, member: string, method: MethodSpec): void {
    const sender = msg.sender;
    const context = `${spec.name}.${member}`;
    const after: Array<() => void> = [];
    const { credentials } = this.#d;
    const call: MethodCall = {
      sender,
      path: msg.path,
      args: msg.body,
      withCaller<T>(fn: (caller: BusCaller) => T): T | Promise<Awaited<T>> {
        const known = credentials.cached(sender);
        if (known) return fn(known);
        return credentials.get(sender).then(fn, (err: unknown) => {
          throw new BusReplyError({
            name: errorName('Failed'),
            message: `cannot identify the caller: ${(err as Error).message}`,
          });
        }) as Promise<Awaited<T>>;
      },
      afterReply(fn) {
        after.push(fn);
      },
    };
    const finish = (ok: boolean, value: unknown) => {
      if (ok) this.#reply(msg, method.out, value as readonly unknown[], context);
      else {
        const wire = toWireError(value, this.#d.log, context);
        this.#error(msg, wire.name, wire.message);
      }
      for (const fn of after) {
        try {
          fn();
        } catch (err) {
          this.#d.log('error', `${context}: after-reply step failed: ${(err as Error).stack ?? String(err)}`);
        }
      }
    };
    // What a call sends (its Updates, its reply, the Updates released after the reply) leaves
    // in one write: one system call per call instead of one per message.
    const batch = this.#d.batch ?? (<T>(fn: () => T): T => fn());
    const result = batch((): PromiseLike<readonly unknown[]> | null => {
      let r: readonly unknown[] | Promise<readonly unknown[]>;
      try {
        r = method.handle(call);
      } catch (err) {
        finish(false, err);
        return null;
      }
      if (isThenable(r)) return r;
      finish(true, r);
      return null;
    });
    if (result === null) return;
    this.#enter(sender);
    result.then(
      (body) => {
        batch(() => finish(true, body));
        this.#leave(sender);
      },
      (err: unknown) => {
        batch(() => finish(false, err));
        this.#leave(sender);
      },
    );
  }

  #enter(sender: string): void {
    this.#inflight.set(sender, (this.#inflight.get(sender) ?? 0) + 1);
  }

  #leave(sender: string): void {
    const n = (this.#inflight.get(sender) ?? 1) - 1;
    if (n > 0) {
      this.#inflight.set(sender, n);
      return;
    }
    this.#inflight.delete(sender);
    if (this.#lost.delete(sender)) this.#gone(sender);
  }

  #reply(msg: DBusMessage, signature: string, body: readonly unknown[], context = msg.member): void {
    if (msg.flags & MessageFlag.NO_REPLY_EXPECTED || !this.#d.isOpen()) return;
    try {
      this.#d.send(Message.newMethodReturn(msg, signature, [...body]));
    } catch (err) {
      // Most likely a body that does not match the signature: a daemon bug, but the caller
      // still deserves an answer rather than a timeout.
      const wire = toWireError(err, this.#d.log, `${context} (reply)`);
      this.#error(msg, wire.name, wire.message);
    }
  }

  #error(msg: DBusMessage, name: string, text: string): void {
    if (msg.flags & MessageFlag.NO_REPLY_EXPECTED || !this.#d.isOpen()) return;
    try {
      this.#d.send(Message.newError(msg, name, text));
    } catch (err) {
      this.#d.log('debug', `cannot send ${name} to ${msg.sender}: ${(err as Error).message}`);
    }
  }
}
