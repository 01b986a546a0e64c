/**
 * Which connection a transport's sessions use: the daemon's private socket when it offers one
 * (capability `PeerSocket`, address from GetPeerAddress, checked by the server's GUID), else the
 * bus. Sessions are the hot path: without dbus-daemon in between a call and its Updates skip two
 * socket hops and two wakeups of the bus process. Chosen once per daemon owner; a daemon without
 * the socket (connmand, or netsessiond with `PeerSocket=`), or a socket this process cannot
 * reach (another mount namespace), leaves everything on the bus as before.
 */
import { BusLink, type BusLinkEvents } from './bus-link.js';
import { type DaemonCalls, PEER_SOCKET } from './calls.js';

/** What a peer link reports (a peer link has no owner to change). */
export type PeerLinkEvents = Omit<BusLinkEvents, 'ownerChanged'>;

interface Choice {
  bus: BusLink;
  owner: string | null;
  link: Promise<BusLink>;
  peer: BusLink | null;
}

/** See the file comment. */
export class SessionLinks {
  readonly #calls: DaemonCalls;
  readonly #callTimeout: number;
  readonly #events: PeerLinkEvents;
  readonly #enabled: boolean;
  #choice: Choice | null = null;

  /** `enabled: false` keeps sessions on the bus. */
  constructor(calls: DaemonCalls, callTimeout: number, events: PeerLinkEvents, enabled: boolean) {
    this.#calls = calls;
    this.#callTimeout = callTimeout;
    this.#events = events;
    this.#enabled = enabled;
  }

  /** The link for sessions with `bus`'s current daemon. */
  get(bus: BusLink): Promise<BusLink> {
    const c = this.#choice;
    if (c && c.bus === bus && c.owner === bus.owner && (!c.peer || c.peer.open)) return c.link;
    this.reset();
    if (!this.#enabled || bus.owner === null) return Promise.resolve(bus);
    const choice: Choice = { bus, owner: bus.owner, link: Promise.resolve(bus), peer: null };
    choice.link = this.#choose(bus).then(
      (peer) => {
        choice.peer = peer;
        // Closed or replaced meanwhile: the caller still gets a working link, the bus.
        if (peer && this.#choice !== choice) peer.close();
        return peer && this.#choice === choice ? peer : bus;
      },
      () => {
        // A failed question is not kept: the next session asks again.
        if (this.#choice === choice) this.#choice = null;
        return bus;
      },
    );
    this.#choice = choice;
    return choice.link;
  }

  /** The daemon changed, the bus closed, or the transport closes: the peer link (if any) goes. */
  reset(): void {
    const c = this.#choice;
    this.#choice = null;
    c?.peer?.close();
  }

  /** The peer link, or null when the daemon offers none (throws when the daemon could not be asked). */
  async #choose(bus: BusLink): Promise<BusLink | null> {
    // Both questions at once: one round trip before the first session, not two. A daemon
    // without the socket answers the second with an error, which is then not needed.
    const asked = this.#calls.peerAddress(bus);
    asked.catch(() => undefined);
    if (!(await this.#calls.capabilities(bus)).includes(PEER_SOCKET)) return null;
    const address = await asked;
    try {
      return await BusLink.openPeer({
        address,
        callTimeout: this.#callTimeout,
        events: { ...this.#events, ownerChanged: () => {} },
      });
    } catch {
      return null;
    }
  }
}
