/**
 * Netlink multicast (event) sockets that survive a receive-buffer overrun.
 *
 * Why our own: when a notification burst overflows the receive buffer the kernel flags ENOBUFS
 * on the socket, libuv reports POLLERR, and the `netlink` npm package (0.3.0, no longer used)
 * built its exception with a NULL syscall name: a C++ exception, std::terminate, SIGABRT. For
 * event sockets an overrun is normal under load, so these are our own: libc through koffi
 * (already a dependency, prebuilt, no compiler on the device). docs/architecture.md says why
 * this and not an addon or a fork.
 *
 * How: each socket is watched on Node's own loop (uv-poll.ts); when it is readable the main
 * thread drains it with non-blocking recv(). A recv that fails with ENOBUFS reports an overrun
 * (messages were lost; the kernel clears the error) and the socket stays open: the consumer
 * re-dumps and resyncs. libuv stops a watch on POLLERR (which is how the overrun shows), so the
 * watch is restarted after the drain. Any other recv error is reported as a socket error.
 */
import os from 'node:os';
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from '../../../lib/native/linux.js';
import { errnoName, type Libc, loadLibc } from './libc.js';
import { type NetlinkMessage, parseMessages } from './request-socket.js';
import { type FdWatch, loadFdWatcher, type WatchFd } from './uv-poll.js';

const NETLINK_ADD_MEMBERSHIP = 1;
const E = os.constants.errno;
/** Datagrams drained per wake-up (other work gets a turn; the watch fires again if more wait). */
const DRAIN_BATCH = 256;
/** Larger than any single rtnetlink notification (the kernel sends at most a page-ish each). */
const RECV_BUFFER = 64 * 1024;

/** What an event socket reports. Handlers run on the main thread, never re-entrantly. */
export interface EventSocketHandlers {
  /** The messages of one datagram, in order. */
  onMessages(msgs: NetlinkMessage[]): void;
  /** ENOBUFS: notifications were lost. The socket stays open; re-dump and resync. */
  onOverrun(): void;
  /** Any other socket error; the socket is closed after this. */
  onError(err: Error): void;
}

/** Options of {@link openEventSocket}. */
export interface EventSocketOptions extends EventSocketHandlers {
  /** Netlink protocol (0 = NETLINK_ROUTE). */
  protocol?: number;
  /** Multicast groups to join (e.g. RTNLGRP_LINK = 1). */
  groups: readonly number[];
  /** Requested SO_RCVBUF in bytes (SO_RCVBUFFORCE first, which root may use past rmem_max). */
  rcvbuf?: number;
}

/** An open event socket. */
export interface EventSocket {
  /** The receive buffer the kernel granted (getsockopt; twice what was asked, for bookkeeping). */
  readonly rcvbuf: number;
  /** Overruns reported so far. */
  readonly overruns: number;
  close(): void;
}

/** A failed libc call, with the errno name as `code`. */
export class EventSocketError extends Error {
  constructor(
    readonly call: string,
    readonly code: string,
  ) {
    super(`netlink event socket: ${call}: ${code}`);
    this.name = 'EventSocketError';
  }
}

interface Entry {
  c: Libc;
  fd: number;
  handlers: EventSocketHandlers;
  watch: FdWatch | null;
  closed: boolean;
  overruns: number;
}

/** Shared by all event sockets: the one receive buffer (reads are synchronous, one at a time). */
let recvBuf: Buffer | undefined;

/** A throwing handler must not stop the other sockets or reach libuv. */
function call(f: () => void): void {
  try {
    f();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

function fail(e: Entry, err: Error): void {
  e.closed = true;
  e.watch?.stop();
  e.c.close(e.fd);
  call(() => e.handlers.onError(err));
}

/** Reads what is queued (a batch at most); on POLLERR (status < 0) watches again afterwards. */
function onEvent(e: Entry, status: number): void {
  recvBuf ??= Buffer.alloc(RECV_BUFFER);
  for (let n = 0; n < DRAIN_BATCH && !e.closed; n++) {
    const got = e.c.recv(e.fd, recvBuf, RECV_BUFFER, MSG_DONTWAIT);
    if (got < 0) {
      const errno = e.c.errno();
      if (errno === E.EAGAIN || errno === E.EINTR) break;
      if (errno === E.ENOBUFS) {
        e.overruns++;
        call(() => e.handlers.onOverrun());
        continue;
      }
      fail(e, new EventSocketError('recv', errnoName(errno)));
      return;
    }
    if (got === 0) break;
    // parseMessages copies: consumers may keep message data past the next recv into the shared buffer.
    const msgs = parseMessages(recvBuf, got);
    call(() => e.handlers.onMessages(msgs));
  }
  if (status < 0 && !e.closed && !e.watch?.restart())
    fail(e, new EventSocketError('uv_poll_start', `status ${status}`));
}

/**
 * Opens a non-blocking netlink socket, joins `opts.groups`, and delivers what arrives to the
 * handlers until `close()`.
 * @throws EventSocketError when koffi cannot be loaded or a libc call fails.
 */
export async function openEventSocket(opts: EventSocketOptions): Promise<EventSocket> {
  let c: Libc;
  let watch: WatchFd;
  try {
    [c, watch] = await Promise.all([loadLibc(), loadFdWatcher()]);
  } catch (err) {
    throw new EventSocketError('load koffi', err instanceof Error ? err.message : String(err));
  }
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, opts.protocol ?? 0);
  if (fd < 0) throw new EventSocketError('socket', errnoName(c.errno()));
  const refuse = (call: string): never => {
    const code = errnoName(c.errno());
    c.close(fd);
    throw new EventSocketError(call, code);
  };
  const int = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
  };
  if (opts.rcvbuf !== undefined && c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int(opts.rcvbuf), 4) < 0) {
    // Without CAP_NET_ADMIN: the ordinary option, capped by net.core.rmem_max.
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(opts.rcvbuf), 4) < 0) refuse('setsockopt(SO_RCVBUF)');
  }
  const addr = Buffer.alloc(12);
  addr.writeUInt16LE(AF_NETLINK, 0);
  if (c.bind(fd, addr, 12) < 0) refuse('bind');
  for (const g of opts.groups)
    if (c.setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int(g), 4) < 0) refuse(`join group ${g}`);
  const got = Buffer.alloc(4);
  const len = int(4);
  const rcvbuf = c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, got, len) < 0 ? 0 : got.readInt32LE(0);
  const entry: Entry = { c, fd, handlers: opts, watch: null, closed: false, overruns: 0 };
  try {
    entry.watch = watch(fd, (status) => onEvent(entry, status));
  } catch (err) {
    c.close(fd);
    throw new EventSocketError('uv_poll', (err as Error).message);
  }
  return {
    rcvbuf,
    get overruns() {
      return entry.overruns;
    },
    close() {
      if (entry.closed) return;
      entry.closed = true;
      // The watch leaves epoll at once, so the fd can go right after.
      entry.watch?.stop();
      c.close(fd);
    },
  };
}
