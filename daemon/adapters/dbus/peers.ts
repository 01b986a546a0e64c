/**
 * The clients on the private socket (peer-server.ts), served like bus clients: each gets a
 * {@link Router} of its own over the same objects, its calls carry its `:peer.N` name as the
 * sender, and what the daemon sends to that name (replies, Updates, Release, Statistics)
 * leaves on its connection. Signals for everyone stay on the bus.
 */
import { MessageFlag } from '../../../lib/dbus/message.js';
import { peerReply } from '../../../lib/dbus/peer.js';
import type { BusCaller } from '../../api.js';
import type { Logger } from '../../ports.js';
import type { DBusMessage } from './connection.js';
import type { ObjectTable } from './objects.js';
import { PEER_LIMITS, PEER_PREFIX, type Peer, PeerServer } from './peer-server.js';
import { Router } from './router.js';

/** What the peers need from the adapter. */
export interface PeerDeps {
  objects: ObjectTable;
  /** The daemon's cleanup for a client that left (as for a bus client that disconnected). */
  clientGone(name: string): void;
  log: Logger;
}

interface Entry {
  peer: Peer;
  router: Router;
}

/** See the file comment. */
export class PeerConnections {
  readonly #d: PeerDeps;
  readonly #peers = new Map<string, Entry>();
  /** Peers written to since the last flush: a flush costs what was sent, not how many peers there are. */
  readonly #written = new Set<Peer>();
  #server: PeerServer | null = null;
  /** Set by {@link close}: peers closed by the daemon's own stop are not clients that left. */
  #closing = false;

  constructor(deps: PeerDeps) {
    this.#d = deps;
  }

  /** Opens the private socket at `path`; a failure is logged and the daemon serves the bus only. */
  async listen(path: string): Promise<void> {
    try {
      this.#server = await PeerServer.listen({
        path,
        log: this.#d.log,
        onPeer: (peer) => this.#add(peer),
        onPeerGone: (peer) => this.#gone(peer),
      });
      this.#d.log('info', `D-Bus: private socket at ${path}`);
    } catch (err) {
      this.#d.log('warn', `no private socket at ${path} (clients use the bus): ${(err as Error).message}`);
    }
  }

  /** The address GetPeerAddress returns, or null without a private socket. */
  get address(): string | null {
    return this.#server?.address ?? null;
  }

  /** True when `name` is a peer's (a message to it leaves through {@link send}). */
  owns(name: string): boolean {
    return name.startsWith(PEER_PREFIX);
  }

  /** Who the peer `name` is, while it is connected. */
  caller(name: string): BusCaller | undefined {
    return this.#peers.get(name)?.peer.caller;
  }

  /** Writes `msg` to the peer it is addressed to; dropped when that peer is gone. */
  send(msg: DBusMessage): void {
    const e = this.#peers.get(msg.destination);
    if (!e) {
      this.#d.log('debug', `peer ${msg.destination} is gone; dropped ${msg.member}`);
      return;
    }
    this.#write(e.peer, msg);
  }

  /** Writes what each peer's connection holds now. */
  flush(): void {
    for (const peer of this.#written) peer.bus.flush();
    this.#written.clear();
  }

  /** Closes the private socket and every peer connection (what was sent is written first). */
  close(): void {
    this.#closing = true;
    this.#server?.close();
    this.#server = null;
    for (const e of this.#peers.values()) e.peer.bus.close();
  }

  #write(peer: Peer, msg: DBusMessage): void {
    // No bus routes on a peer connection: the header names no destination.
    msg.destination = '';
    try {
      peer.bus.send(msg);
      this.#written.add(peer);
    } catch (err) {
      this.#d.log('warn', `cannot send ${msg.member} to ${peer.name}: ${(err as Error).message}`);
      return;
    }
    if (peer.bus.buffered > PEER_LIMITS.backlog) {
      this.#d.log('warn', `${peer.name} (uid ${peer.caller.uid}) stopped reading; disconnected it`);
      peer.drop();
    }
  }

  #add(peer: Peer): void {
    const caller = peer.caller;
    const router = new Router({
      objects: this.#d.objects,
      send: (m) => this.#write(peer, m),
      batch: (fn) => peer.bus.batch(fn),
      isOpen: () => peer.bus.open,
      credentials: {
        cached: (s) => (s === peer.name ? caller : undefined),
        get: (s) => (s === peer.name ? Promise.resolve(caller) : Promise.reject(new Error(`unknown peer ${s}`))),
      },
      clientGone: (name) => this.#d.clientGone(name),
      log: this.#d.log,
    });
    this.#peers.set(peer.name, { peer, router });
    peer.bus.onMalformed = (err) => this.#d.log('debug', `${peer.name}: malformed message: ${err.message}`);
    peer.bus.onMethodCall = (msg) => {
      // A peer's messages name no sender; the daemon keys its clients by one.
      msg.sender = peer.name;
      if (router.handle(msg)) return true;
      if (!(msg.flags & MessageFlag.NO_REPLY_EXPECTED)) this.#write(peer, peerReply(msg));
      return true;
    };
  }

  #gone(peer: Peer): void {
    const e = this.#peers.get(peer.name);
    if (!e) return;
    this.#peers.delete(peer.name);
    this.#written.delete(peer);
    // At the daemon's stop its sessions end with it (their Release is already sent).
    if (!this.#closing) e.router.clientLost(peer.name);
  }
}
