/**
 * A synchronous netlink request socket (NETLINK_NETFILTER for nf_tables and NFACCT, NETLINK_ROUTE
 * for rtnetlink), on libc through koffi.
 *
 * Why synchronous: the kernel handles a request (an nfnetlink batch, a GET, the first part of a
 * dump) inside `send()`, so its replies are queued on the socket when `send()` returns; later
 * dump parts are produced inside the `recv()` that makes room for them. Draining with
 * `recv(MSG_DONTWAIT)` therefore needs no event loop turn, no poll and no timer. A blocking
 * `recv` bounded by SO_RCVTIMEO is the fallback should a reply ever be late.
 *
 * Why not the `netlink` npm package (no longer a dependency): its poll error path aborted the
 * whole process on ENOBUFS, and it could not set SO_RCVBUFFORCE or NETLINK_EXT_ACK. Here a
 * receive overrun is an ordinary typed error ({@link NetlinkOverrunError}) after which the socket
 * stays usable; the caller resynchronises by a full read-back.
 */

import {
  AF_NETLINK,
  MSG_DONTWAIT,
  MSG_TRUNC,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_RCVTIMEO,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from '../../../lib/native/linux.js';
import { errnoName, type Libc, loadLibc } from './libc.js';

const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const EINTR = 4;
const EAGAIN = 11;
const ENOBUFS = 105;

/** Netlink protocol of nf_tables, conntrack, nfacct and the other netfilter subsystems. */
export const NETLINK_NETFILTER = 12;

/** Standard netlink message types. */
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
/** NLMSG_ERROR carries extended-ACK TLVs after the echoed header. */
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

/** One received netlink message. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** Bytes after the 16-byte header (a view into a copy, safe to keep). */
  payload: Buffer;
}

/** A failed libc call on the socket (or the socket could not be made). */
export class NetlinkSocketError extends Error {
  constructor(
    readonly call: string,
    /** errno name (`EPERM`, `EMSGSIZE`, ...), or the loader's message for `load libc`. */
    readonly code: string,
  ) {
    super(`netlink ${call}: ${code}`);
    this.name = 'NetlinkSocketError';
  }
}

/**
 * The socket's receive queue overflowed (ENOBUFS): some replies were lost, so the outcome of the
 * request is unknown. The socket stays open; the caller must read the kernel back.
 */
export class NetlinkOverrunError extends NetlinkSocketError {
  constructor() {
    super('recv', 'ENOBUFS');
    this.name = 'NetlinkOverrunError';
    this.message = 'netlink receive queue overflowed (ENOBUFS): replies lost, kernel state unknown';
  }
}

/** Options of {@link openRequestSocket}. */
export interface RequestSocketOptions {
  /** Wanted SO_RCVBUF / SO_SNDBUF in bytes (default 4 MiB each): forced as root, else capped by rmem_max/wmem_max. */
  rcvbuf?: number;
  sndbuf?: number;
  /** Bound on a blocking wait for a late reply (default 2000 ms). */
  timeoutMs?: number;
  /**
   * Size of the buffer one datagram is received into (default {@link RECV_BUFFER_DEFAULT}).
   */
  recvBufferBytes?: number;
}

/**
 * 64 KiB: a dump part is at most 32 KiB (the kernel sizes dump parts by the largest receive it
 * has seen, capped there), NETLINK_CAP_ACK keeps error replies to a header, and a datagram that
 * still does not fit fails loudly (MSG_TRUNC) rather than being cut. Not more: the buffer lives as
 * long as the socket, and 1 MiB (the former default) put ~1 MB into the idle daemon's malloc arena
 * whenever glibc's mmap threshold had risen past it (docs/architecture.md, "Memory and start-up").
 */
export const RECV_BUFFER_DEFAULT = 64 << 10;

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

/** A NETLINK_* request socket; see the module comment. Not for multicast groups. */
export class RequestSocket {
  readonly #c: Libc;
  #fd: number;
  #seq: number;
  #buf: Buffer;
  /**
   * Replies of an earlier exchange may still be queued: it threw (a timeout, an overrun), or the
   * socket is new. An exchange that ended normally got every reply it asked for (the kernel
   * answers a request, or a whole nf_tables batch, before send() returns, and `done` names the
   * last answer), so the next one skips the drain, a receive call per exchange.
   */
  #unsettled = true;
  /** The kernel's SO_SNDBUF after setup: a batch must stay below it (minus 32 bytes). */
  readonly sendBufferSize: number;

  constructor(c: Libc, fd: number, sendBufferSize: number, recvBufferBytes = RECV_BUFFER_DEFAULT) {
    this.#c = c;
    this.#fd = fd;
    this.#buf = Buffer.alloc(recvBufferBytes);
    this.sendBufferSize = sendBufferSize;
    this.#seq = (Date.now() / 1000) >>> 0;
  }

  /** A fresh sequence number (never 0). */
  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0 || 1;
    return this.#seq;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Sends `request` with one `send()` and receives until `done` returns true for a message (all
   * messages received are returned, in order). Left-over messages of an earlier, interrupted
   * exchange are discarded first.
   * @throws NetlinkOverrunError on ENOBUFS; NetlinkSocketError on other failures or a timeout.
   */
  exchange(request: Buffer, done: (m: NetlinkMessage) => boolean): NetlinkMessage[] {
    if (this.#fd < 0) throw new NetlinkSocketError('send', 'EBADF');
    if (this.#unsettled) this.#discardPending();
    // Until this exchange ends normally, its replies may still come: the next one drains them.
    this.#unsettled = true;
    for (;;) {
      const n = this.#c.send(this.#fd, request, request.length, 0);
      if (n >= 0) break;
      const e = this.#c.errno();
      if (e !== EINTR) throw new NetlinkSocketError('send', errnoName(e));
    }
    const out: NetlinkMessage[] = [];
    for (;;) {
      const n = this.#recv(true);
      if (n === 0) throw new NetlinkSocketError('recv', 'ETIMEDOUT');
      let finished = false;
      for (const m of parseMessages(this.#buf, n)) {
        out.push(m);
        if (done(m)) finished = true;
      }
      if (finished) {
        this.#unsettled = false;
        return out;
      }
    }
  }

  /** One datagram into the buffer; 0 when nothing came (non-blocking: at once; blocking: timeout). */
  #recv(wait: boolean): number {
    let flags = MSG_DONTWAIT | MSG_TRUNC;
    for (;;) {
      const n = this.#c.recv(this.#fd, this.#buf, this.#buf.length, flags);
      if (n > this.#buf.length) throw new NetlinkSocketError('recv', `datagram of ${n} bytes truncated`);
      if (n >= 0) return n;
      const e = this.#c.errno();
      if (e === EINTR) continue;
      if (e === ENOBUFS) throw new NetlinkOverrunError();
      if (e !== EAGAIN) throw new NetlinkSocketError('recv', errnoName(e));
      if (!wait || (flags & MSG_DONTWAIT) === 0) return 0;
      flags = MSG_TRUNC; // blocking, bounded by SO_RCVTIMEO
    }
  }

  #discardPending(): void {
    for (;;) {
      try {
        if (this.#recv(false) === 0) return;
      } catch (err) {
        if (!(err instanceof NetlinkOverrunError)) throw err;
      }
    }
  }

  close(): void {
    if (this.#fd >= 0) this.#c.close(this.#fd);
    this.#fd = -1;
  }
}

/** Splits a datagram into netlink messages (by nlmsg_len, 4-byte aligned). */
export function parseMessages(buf: Buffer, length: number): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + 16 <= length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > length) break;
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: Buffer.from(buf.subarray(off + 16, off + len)),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/** An NLMSG_ERROR message decoded: `error` is 0 for an ACK, else a positive errno. */
export interface AckInfo {
  error: number;
  /** The kernel's extended-ACK message, when it gave one. */
  message?: string;
}

/** Decodes the payload of an NLMSG_ERROR (with NETLINK_CAP_ACK / EXT_ACK TLVs). */
export function parseAck(m: NetlinkMessage): AckInfo {
  const error = -m.payload.readInt32LE(0) | 0;
  const info: AckInfo = { error };
  if ((m.flags & NLM_F_ACK_TLVS) === 0) return info;
  // After the errno: the echoed request, capped to its header or whole.
  const echoedLen = m.payload.length >= 8 ? m.payload.readUInt32LE(4) : 0;
  let off = 4 + ((m.flags & NLM_F_CAPPED) !== 0 ? 16 : (echoedLen + 3) & ~3);
  while (off + 4 <= m.payload.length) {
    const len = m.payload.readUInt16LE(off);
    const type = m.payload.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > m.payload.length) break;
    if (type === NLMSGERR_ATTR_MSG) info.message = m.payload.toString('utf8', off + 4, off + len).replace(/\0+$/, '');
    off += (len + 3) & ~3;
  }
  return info;
}

/**
 * Opens a netlink request socket of `protocol`, bound to a kernel-chosen port, with large
 * buffers, NETLINK_CAP_ACK (errors do not echo the whole request) and NETLINK_EXT_ACK (the
 * kernel's own error strings).
 * @throws NetlinkSocketError when libc cannot be loaded or the socket cannot be made.
 */
export async function openRequestSocket(protocol: number, opts: RequestSocketOptions = {}): Promise<RequestSocket> {
  let c: Libc;
  try {
    c = await loadLibc();
  } catch (err) {
    throw new NetlinkSocketError('load libc', (err as Error).message);
  }
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new NetlinkSocketError('socket', errnoName(c.errno()));
  const fail = (call: string): never => {
    const code = errnoName(c.errno());
    c.close(fd);
    throw new NetlinkSocketError(call, code);
  };
  const addr = Buffer.alloc(12);
  addr.writeUInt16LE(AF_NETLINK, 0);
  if (c.bind(fd, addr, addr.length) < 0) fail('bind');
  const setBuf = (force: number, plain: number, bytes: number): void => {
    // FORCE needs CAP_NET_ADMIN and ignores rmem_max/wmem_max; without it the plain option is capped.
    if (
      c.setsockopt(fd, SOL_SOCKET, force, int32(bytes), 4) < 0 &&
      c.setsockopt(fd, SOL_SOCKET, plain, int32(bytes), 4) < 0
    )
      fail('setsockopt(buffer)');
  };
  setBuf(SO_RCVBUFFORCE, SO_RCVBUF, opts.rcvbuf ?? 4 << 20);
  setBuf(SO_SNDBUFFORCE, SO_SNDBUF, opts.sndbuf ?? 4 << 20);
  // Both are optional niceties (kernels before 4.12 lack EXT_ACK): ignore a refusal.
  c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int32(1), 4);
  c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, int32(1), 4);
  const timeout = opts.timeoutMs ?? 2000;
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(BigInt(Math.floor(timeout / 1000)), 0);
  tv.writeBigInt64LE(BigInt((timeout % 1000) * 1000), 8);
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, tv.length) < 0) fail('setsockopt(SO_RCVTIMEO)');
  const val = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4);
  const sndbuf = c.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, val, len) < 0 ? 212_992 : val.readInt32LE(0);
  return new RequestSocket(c, fd, sndbuf, opts.recvBufferBytes);
}
