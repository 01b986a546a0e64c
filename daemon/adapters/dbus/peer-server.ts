/**
 * The daemon's private socket: a D-Bus server that clients reach without the bus (what
 * systemd's /run/systemd/private is to systemctl). A call through dbus-daemon costs two extra
 * socket hops and two wakeups of the bus process; measured here, a Node client's Ping answered
 * by a Node server took 0.23–0.75 ms through the bus and 0.06–0.17 ms direct (paced, medians).
 * Clients find the socket through `org.netsession.Manager1.GetPeerAddress` on the bus, and
 * check the server's GUID, so only the daemon that owns `net.connman` is ever trusted.
 *
 * Who a peer is comes from the kernel (SO_PEERCRED, SO_PEERGROUPS), never from the peer: the
 * same facts the bus reports with GetConnectionCredentials. Each peer gets a name of its own
 * (`:peer.N`, which no bus hands out), used where a bus client's unique name would be.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { BusSocket } from '../../../lib/dbus/bus-socket.js';
import type { BusCaller } from '../../api.js';
import type { Logger } from '../../ports.js';
import { type Libc, loadLibc } from '../netlink/libc.js';
import { SaslServer } from './sasl-server.js';

/** What a peer gets before it is dropped. */
export const PEER_LIMITS = {
  /** Connections at once (the system bus allows 2,048, 256 per user). */
  peers: 1024,
  perUid: 256,
  /** Milliseconds to authenticate. */
  authMs: 10_000,
  /** Bytes of one incoming message (ours are under 4 KiB; the bus allows 32 MiB). */
  message: 1 << 20,
  /** Bytes we may have queued for a peer that does not read them. */
  backlog: 8 << 20,
};

/** The prefix of peers' names; a bus hands out `:1.N` only. */
export const PEER_PREFIX = ':peer.';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SO_PEERGROUPS = 59;

/** One authenticated peer. */
export interface Peer {
  readonly name: string;
  readonly caller: BusCaller;
  readonly bus: BusSocket;
  /** Ends the connection at once, dropping what is queued (a peer that stopped reading). */
  drop(): void;
}

/** Options of {@link PeerServer.listen}. */
export interface PeerServerOptions {
  path: string;
  log: Logger;
  /** A peer authenticated; it must set the BusSocket's handlers now. */
  onPeer(peer: Peer): void;
  /** A peer's connection ended (after onPeer). */
  onPeerGone(peer: Peer): void;
}

/** The kernel's word on who is at the other end of `socket`, or null if it cannot be read. */
function peerCredentials(libc: Libc, socket: Socket): Omit<BusCaller, 'sender'> | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  const cred = Buffer.alloc(12);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12, 0);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) !== 0) return null;
  const pid = cred.readInt32LE(0);
  const uid = cred.readUInt32LE(4);
  const gid = cred.readUInt32LE(8);
  const gids = new Set([gid]);
  let groups = Buffer.alloc(4 * 64);
  len.writeUInt32LE(groups.length, 0);
  let rc = libc.getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, len);
  // ERANGE: the kernel wrote the size it needs.
  if (rc !== 0 && len.readUInt32LE(0) > groups.length) {
    groups = Buffer.alloc(len.readUInt32LE(0));
    len.writeUInt32LE(groups.length, 0);
    rc = libc.getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, len);
  }
  if (rc === 0) {
    const n = Math.floor(Math.min(len.readUInt32LE(0), groups.length) / 4);
    for (let i = 0; i < n; i++) gids.add(groups.readUInt32LE(i * 4));
  }
  return { uid, gids: [...gids], pid: pid > 0 ? pid : undefined };
}

/** Removes a socket left by a daemon that died; refuses when one still answers there. */
async function clearStale(path: string): Promise<void> {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another server answers at ${path}`);
  unlinkSync(path);
}

/** See the file comment. */
export class PeerServer {
  readonly guid = randomBytes(16).toString('hex');
  readonly #opts: PeerServerOptions;
  readonly #server: Server;
  readonly #libc: Libc;
  readonly #peers = new Set<Socket>();
  readonly #perUid = new Map<number, number>();
  #counter = 0;
  #closed = false;

  private constructor(opts: PeerServerOptions, libc: Libc) {
    this.#opts = opts;
    this.#libc = libc;
    this.#server = createServer((s) => this.#accept(s));
  }

  /** Listens at `opts.path` (mode 0666: who may do what is the daemon's check, as on the bus). */
  static async listen(opts: PeerServerOptions): Promise<PeerServer> {
    const libc = await loadLibc();
    // Made here, it must be searchable by every user whatever the umask (the unit's is 0077).
    if (mkdirSync(dirname(opts.path), { recursive: true, mode: 0o755 }) !== undefined)
      chmodSync(dirname(opts.path), 0o755);
    await clearStale(opts.path);
    const server = new PeerServer(opts, libc);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(opts.path, () => {
        server.#server.removeListener('error', reject);
        resolve();
      });
    });
    server.#server.on('error', (err) => opts.log('warn', `private socket ${opts.path}: ${err.message}`));
    chmodSync(opts.path, 0o666);
    return server;
  }

  /** The D-Bus address clients connect to, with the GUID they check. */
  get address(): string {
    return `unix:path=${this.#opts.path},guid=${this.guid}`;
  }

  /** Stops listening, removes the socket and ends every peer connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    try {
      unlinkSync(this.#opts.path);
    } catch {
      // already gone
    }
    for (const s of [...this.#peers]) s.end();
  }

  #accept(socket: Socket): void {
    const { log } = this.#opts;
    const creds = peerCredentials(this.#libc, socket);
    if (this.#closed || !creds || this.#peers.size >= PEER_LIMITS.peers) {
      if (!creds) log('warn', "private socket: cannot read a peer's credentials; refused it");
      socket.destroy();
      return;
    }
    const mine = this.#perUid.get(creds.uid) ?? 0;
    if (mine >= PEER_LIMITS.perUid) {
      log('warn', `private socket: uid ${creds.uid} has ${mine} connections; refused one more`);
      socket.destroy();
      return;
    }
    this.#perUid.set(creds.uid, mine + 1);
    this.#peers.add(socket);
    let peer: Peer | null = null;
    socket.once('close', () => {
      this.#peers.delete(socket);
      const left = (this.#perUid.get(creds.uid) ?? 1) - 1;
      if (left > 0) this.#perUid.set(creds.uid, left);
      else this.#perUid.delete(creds.uid);
      if (peer) this.#opts.onPeerGone(peer);
    });
    socket.on('error', () => {
      // 'close' follows.
    });
    const sasl = new SaslServer(creds.uid, this.guid);
    const timer = setTimeout(() => {
      log('debug', `private socket: uid ${creds.uid} did not authenticate within ${PEER_LIMITS.authMs} ms`);
      socket.destroy();
    }, PEER_LIMITS.authMs);
    const onData = (chunk: Buffer): void => {
      const step = sasl.feed(chunk);
      if (step.replies.length > 0) socket.write(step.replies.join(''));
      if (step.fail) {
        clearTimeout(timer);
        log('debug', `private socket: dropped uid ${creds.uid}: ${step.fail}`);
        socket.end();
        return;
      }
      if (!step.begun) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      const name = `${PEER_PREFIX}${++this.#counter}`;
      const bus = BusSocket.over(socket, undefined, PEER_LIMITS.message);
      bus.coalesceWrites();
      peer = { name, caller: { sender: name, ...creds }, bus, drop: () => socket.destroy() };
      this.#opts.onPeer(peer);
      // Framed only after the owner set its handlers: the first call may have come with BEGIN.
      if (step.begun.rest.length > 0) socket.emit('data', step.begun.rest);
    };
    socket.on('data', onData);
  }
}
