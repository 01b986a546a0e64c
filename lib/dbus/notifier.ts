/**
 * Incoming calls: the agent side of ConnMan's `net.connman.Notification`. Each live session has a
 * notifier path of its own under this process's root (`/netsession/<pid>/s<n>`), answered as
 * low-level method calls (no exported objects); an Update or Release there reaches that
 * session's {@link SessionNotifier}. Only the daemon's current owner may call them.
 */
import type { NetsessionError } from '../errors.js';
import { INTERFACES, METHODS, SIGNATURES } from '../protocol.js';
import type { SessionNotifier } from '../transport.js';
import type { BusLink, DBusMessage } from './bus-link.js';
import { decodeSettings } from './codec.js';
import { deliver } from './deliver.js';
import { Message, MessageFlag, MessageType } from './message.js';

/** Where this process's notifier objects live (never a path the daemon could use itself). */
const NOTIFIER_ROOT = `/netsession/${process.pid}`;

interface Entry {
  notifier: SessionNotifier;
  /** Releases the connection hold this live session takes. */
  unhold: () => void;
  /** The session's object path, once CreateSession answered. */
  path: string | null;
}

/** The notifiers of one transport's live sessions. */
export class Notifiers {
  readonly #entries = new Map<string, Entry>();
  #counter = 0;
  readonly #ended: (sessionPath: string) => void;

  /** `ended` hears the object path of each session that ends (to drop what was kept for it). */
  constructor(ended: (sessionPath: string) => void) {
    this.#ended = ended;
  }

  /**
   * A new notifier path for `notifier`, live from now on (the first Update may be read in the same
   * tick as CreateSession's reply). `unhold` is called when the session ends.
   */
  add(notifier: SessionNotifier, unhold: () => void): string {
    const notifierPath = `${NOTIFIER_ROOT}/s${++this.#counter}`;
    this.#entries.set(notifierPath, { notifier, unhold, path: null });
    return notifierPath;
  }

  /** CreateSession answered: the session at `notifierPath` is `path` on the daemon. */
  bind(notifierPath: string, path: string): void {
    const entry = this.#entries.get(notifierPath);
    if (entry) entry.path = path;
  }

  /** The session ended: its notifier stops. Returns what it held, if it was live. */
  forget(notifierPath: string): { notifier: SessionNotifier } | undefined {
    const e = this.#entries.get(notifierPath);
    if (!e) return undefined;
    this.#entries.delete(notifierPath);
    e.unhold();
    if (e.path !== null) this.#ended(e.path);
    return e;
  }

  /** Every session ended at once (daemon or bus gone, transport closed): each notifier hears `lost(err)`. */
  loseAll(err: NetsessionError): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) {
      e.unhold();
      deliver(() => e.notifier.lost(err));
    }
  }

  /** `net.connman.Notification` calls to our notifier paths; false lets the connection answer the rest (Peer, UnknownMethod). */
  onMethodCall(msg: DBusMessage, link: BusLink): boolean {
    if (
      msg.type !== MessageType.METHOD_CALL ||
      msg.interface !== INTERFACES.notification ||
      !msg.path.startsWith(`${NOTIFIER_ROOT}/`)
    )
      return false;
    const expectsReply = !(msg.flags & MessageFlag.NO_REPLY_EXPECTED);
    const reply = (m: DBusMessage): void => {
      if (expectsReply) link.send(m);
    };
    // Only the daemon may drive our sessions; anyone else on the bus could otherwise fake an uplink.
    if (!link.fromDaemon(msg)) {
      reply(
        Message.newError(
          msg,
          'org.freedesktop.DBus.Error.AccessDenied',
          'only the session daemon may call this notifier',
        ),
      );
      return true;
    }
    const N = METHODS.notification;
    const known =
      (msg.member === N.Update && msg.signature === SIGNATURES.Update.in) ||
      (msg.member === N.Release && msg.signature === '');
    if (!known) {
      reply(
        Message.newError(
          msg,
          'org.freedesktop.DBus.Error.UnknownMethod',
          `no method ${msg.member}(${msg.signature}) on ${INTERFACES.notification}`,
        ),
      );
      return true;
    }
    // Answer first: a listener that throws must not cost the daemon its reply.
    reply(Message.newMethodReturn(msg, '', []));
    // A late Update for a destroyed session is acknowledged and ignored.
    if (msg.member === N.Update) {
      const e = this.#entries.get(msg.path);
      if (e) deliver(() => e.notifier.update(decodeSettings(msg.body[0])));
    } else {
      const e = this.forget(msg.path);
      if (e) deliver(() => e.notifier.release());
    }
    return true;
  }
}
