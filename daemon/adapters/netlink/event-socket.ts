/**
 * Netlink multicast (event) sockets that survive a receive-buffer overrun.
 *
 * Why our own: when a notification burst overflows the receive buffer the kernel flags ENOBUFS
 * on the socket, libuv reports POLLERR, and the `netlink` npm package (0.3.0, no longer used)
 * built its exception with a NULL syscall name: a C++ exception, std::terminate, SIGABRT. For
 * event sockets an overrun is normal under load, so these are our own: libc through koffi (already a
 * dependency, prebuilt, no compiler on the device). docs/architecture.md says why this and not
 * an addon or a fork.
 *
 * How: one poll() for all event sockets (and an eventfd to wake it) runs as a koffi async call on
 * one libuv worker thread; when it returns, the main thread drains each readable socket with
 * non-blocking recv() and re-arms the poll. A recv that fails with ENOBUFS reports an overrun
 * (messages were lost; the kernel clears the error) and the socket stays open: the consumer
 * re-dumps and resyncs. Any other recv error is reported as a socket error.
 */
import os from 'node:os';
import { loadLibcLibrary } from '../../../lib/native/libc.js';
import { parseMessages, type NetlinkMessage } from './request-socket.js';
import { AF_NETLINK, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, SOL_NETLINK, SOL_SOCKET, SO_RCVBUF, SO_RCVBUFFORCE } from '../../../lib/native/linux.js';

const NETLINK_ADD_MEMBERSHIP = 1;
const POLLIN = 0x1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const E = os.constants.errno;
/** Datagrams drained per socket before the poll is re-armed (other work gets a turn). */
const DRAIN_BATCH = 256;
/**
 * poll() timeout. Not infinite: Node joins its worker threads when the process exits, so an
 * exit (a crash included) waits for the poll in flight; a second at most.
 */
const POLL_TIMEOUT_MS = 1000;
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

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  eventfd(init: number, flags: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  pollAsync(fds: Buffer, n: number, timeout: number, done: (err: unknown, rc: number) => void): void;
  errno(): number;
}

let libcLoad: Promise<Libc> | undefined;

/** Loads koffi lazily (as bound-socket.ts does): nothing native until the first socket. */
function loadLibc(): Promise<Libc> {
  libcLoad ??= loadLibcLibrary().then(({ koffi, lib }) => {
    const f = (sig: string) => lib.func(sig);
    const socket = f('int socket(int, int, int)');
    const bind = f('int bind(int, void *, uint32_t)');
    const setsockopt = f('int setsockopt(int, int, int, void *, uint32_t)');
    const getsockopt = f('int getsockopt(int, int, int, _Out_ void *, _Inout_ void *)');
    const recv = f('long recv(int, _Out_ void *, unsigned long, int)');
    const close = f('int close(int)');
    const eventfd = f('int eventfd(unsigned int, int)');
    const write = f('long write(int, void *, unsigned long)');
    const read = f('long read(int, _Out_ void *, unsigned long)');
    const poll = f('int poll(_Inout_ void *, unsigned long, int)');
    return {
      socket: (d, t, p) => socket(d, t, p) as number,
      bind: (fd, a, l) => bind(fd, a, l) as number,
      setsockopt: (fd, l, n, v, len) => setsockopt(fd, l, n, v, len) as number,
      getsockopt: (fd, l, n, v, len) => getsockopt(fd, l, n, v, len) as number,
      recv: (fd, b, l, fl) => Number(recv(fd, b, l, fl)),
      close: (fd) => close(fd) as number,
      eventfd: (i, fl) => eventfd(i, fl) as number,
      write: (fd, b, l) => Number(write(fd, b, l)),
      read: (fd, b, l) => Number(read(fd, b, l)),
      pollAsync: (fds, n, t, done) => poll.async(fds, n, t, done),
      errno: () => koffi.errno(),
    };
  });
  return libcLoad;
}

const ERRNO_NAME = new Map<number, string>(Object.entries(E).map(([name, n]) => [n, name]));
const errnoName = (n: number) => ERRNO_NAME.get(n) ?? `errno ${n}`;

interface Entry {
  fd: number;
  handlers: EventSocketHandlers;
  closed: boolean;
  overruns: number;
}

/** The one poll loop all event sockets share. */
class Reactor {
  readonly #entries = new Map<number, Entry>();
  readonly #recvBuf = Buffer.alloc(RECV_BUFFER);
  #wakeFd = -1;
  #polling = false;

  constructor(readonly c: Libc) {}

  add(e: Entry): void {
    if (this.#wakeFd < 0) {
      this.#wakeFd = this.c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (this.#wakeFd < 0) throw new EventSocketError('eventfd', errnoName(this.c.errno()));
    }
    this.#entries.set(e.fd, e);
    this.#arm();
  }

  /** Wakes the poll: it returns, closed sockets are closed, and it re-arms with the new set. */
  wake(): void {
    if (!this.#polling) return this.#arm();
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    this.c.write(this.#wakeFd, one, 8);
  }

  #arm(): void {
    if (this.#polling) return this.wake();
    // fds are closed only here, between polls, so a poll never waits on a number reused meanwhile.
    for (const [fd, e] of this.#entries) {
      if (!e.closed) continue;
      this.c.close(fd);
      this.#entries.delete(fd);
    }
    if (this.#entries.size === 0) return;
    const fds = [this.#wakeFd, ...this.#entries.keys()];
    const pfd = Buffer.alloc(8 * fds.length);
    fds.forEach((fd, i) => {
      pfd.writeInt32LE(fd, 8 * i);
      pfd.writeInt16LE(POLLIN, 8 * i + 4);
    });
    this.#polling = true;
    this.c.pollAsync(pfd, fds.length, POLL_TIMEOUT_MS, (err, rc) => {
      this.#polling = false;
      if (err || rc < 0) {
        // EINTR and the like: poll again. A persistent failure would spin, so say so once.
        if (err) for (const e of this.#entries.values()) if (!e.closed) this.#fail(e, new EventSocketError('poll', String(err)));
        return this.#arm();
      }
      for (let i = 0; i < fds.length; i++) {
        const revents = pfd.readInt16LE(8 * i + 6);
        if (revents === 0) continue;
        if (i === 0) {
          this.c.read(this.#wakeFd, Buffer.alloc(8), 8);
          continue;
        }
        const e = this.#entries.get(fds[i]!);
        // POLLIN or POLLERR (the overrun): recv tells which.
        if (e && !e.closed) this.#drain(e);
      }
      this.#arm();
    });
  }

  #drain(e: Entry): void {
    for (let n = 0; n < DRAIN_BATCH && !e.closed; n++) {
      const got = this.c.recv(e.fd, this.#recvBuf, RECV_BUFFER, MSG_DONTWAIT);
      if (got < 0) {
        const errno = this.c.errno();
        if (errno === E.EAGAIN || errno === E.EINTR) return;
        if (errno === E.ENOBUFS) {
          e.overruns++;
          this.#call(e, () => e.handlers.onOverrun());
          continue;
        }
        return this.#fail(e, new EventSocketError('recv', errnoName(errno)));
      }
      if (got === 0) return;
      // parseMessages copies: consumers may keep message data past the next recv into the shared buffer.
      const msgs = parseMessages(this.#recvBuf, got);
      this.#call(e, () => e.handlers.onMessages(msgs));
    }
  }

  #fail(e: Entry, err: Error): void {
    e.closed = true;
    this.#call(e, () => e.handlers.onError(err));
  }

  /** A throwing handler must not stop the loop (the other sockets still need it). */
  #call(_e: Entry, f: () => void): void {
    try {
      f();
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

let reactor: Reactor | undefined;

/**
 * Opens a non-blocking netlink socket, joins `opts.groups`, and delivers what arrives to the
 * handlers until `close()`.
 * @throws EventSocketError when koffi cannot be loaded or a libc call fails.
 */
export async function openEventSocket(opts: EventSocketOptions): Promise<EventSocket> {
  let c: Libc;
  try {
    c = await loadLibc();
  } catch (err) {
    throw new EventSocketError('load koffi', err instanceof Error ? err.message : String(err));
  }
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, opts.protocol ?? 0);
  if (fd < 0) throw new EventSocketError('socket', errnoName(c.errno()));
  const fail = (call: string): never => {
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
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int(opts.rcvbuf), 4) < 0) fail('setsockopt(SO_RCVBUF)');
  }
  const addr = Buffer.alloc(12);
  addr.writeUInt16LE(AF_NETLINK, 0);
  if (c.bind(fd, addr, 12) < 0) fail('bind');
  for (const g of opts.groups) if (c.setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, int(g), 4) < 0) fail(`join group ${g}`);
  const got = Buffer.alloc(4);
  const len = int(4);
  const rcvbuf = c.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, got, len) < 0 ? 0 : got.readInt32LE(0);
  const entry: Entry = { fd, handlers: opts, closed: false, overruns: 0 };
  reactor ??= new Reactor(c);
  const r = reactor;
  r.add(entry);
  return {
    rcvbuf,
    get overruns() {
      return entry.overruns;
    },
    close() {
      if (entry.closed) return;
      entry.closed = true;
      r.wake();
    },
  };
}
