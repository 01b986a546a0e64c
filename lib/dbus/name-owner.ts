/**
 * Name-owner tracking: who owns the daemon's well-known name now. One NameOwnerChanged match for
 * that name and one GetNameOwner at start; after that the owner is kept current from the signals,
 * synchronously as each is read, so it is right before any later message in the same chunk (such
 * as a new owner's first Update).
 */
import { DaemonUnavailableError } from '../errors.js';
import type { CallTarget } from '../reply-errors.js';
import { busMethod, DBUS_NAME } from './bus-socket.js';
import type { Message } from './message.js';

const BUS: CallTarget = { kind: 'manager' };

/** The owner of one well-known name. */
export class NameOwner {
  readonly #name: string;
  readonly #changed: (previous: string | null, current: string | null) => void;
  #owner: string | null = null;

  /** `changed` hears each change of owner after {@link NameOwner.start}. */
  constructor(name: string, changed: (previous: string | null, current: string | null) => void) {
    this.#name = name;
    this.#changed = changed;
  }

  /** Unique name of the current owner, or `null`. */
  get current(): string | null {
    return this.#owner;
  }

  /** Subscribes to the name's NameOwnerChanged, then reads its owner, with `call` (a call to the bus). */
  async start(call: (msg: Message, target: CallTarget) => Promise<Message>): Promise<void> {
    const rule = `type='signal',sender='${DBUS_NAME}',path='/org/freedesktop/DBus',interface='${DBUS_NAME}',member='NameOwnerChanged',arg0='${this.#name}'`;
    await call(busMethod('AddMatch', 's', [rule]), BUS);
    try {
      const reply = await call(busMethod('GetNameOwner', 's', [this.#name]), BUS);
      this.#owner = (reply.body[0] as string) || null;
    } catch (err) {
      if (!(err instanceof DaemonUnavailableError && err.reason === 'no-daemon')) throw err;
      this.#owner = null;
    }
  }

  /** A signal from the bus itself: a NameOwnerChanged for the name updates the owner. */
  onBusSignal(msg: Message): void {
    if (msg.member !== 'NameOwnerChanged' || msg.signature !== 'sss') return;
    const [name, , now] = msg.body as [string, string, string];
    if (name !== this.#name) return;
    const previous = this.#owner;
    this.#owner = now || null;
    if (previous !== this.#owner) this.#changed(previous, this.#owner);
  }
}
