/**
 * The few libc calls the daemon makes itself, through koffi: socket options and netlink sockets
 * that Node has no API for (SO_BINDTODEVICE before connect, NETLINK_NETFILTER request sockets
 * with SO_RCVBUFFORCE, NETLINK_EXT_ACK and a receive that reports ENOBUFS instead of dying).
 *
 * libc is found by name on glibc and musl alike (lib/native/libc.ts).
 */
import os from 'node:os';
import { loadLibcLibrary } from '../../../lib/native/libc.js';

/** The bound libc functions (synchronous; they block the loop only for one syscall). */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

export { libcNames } from '../../../lib/native/libc.js';

let loaded: Promise<Libc> | undefined;

/**
 * Loads koffi and libc once, lazily: a daemon that never needs them (no online check, iptables
 * backend without netlink) never loads the native module.
 * @throws Error naming every library name tried when none loads.
 */
export function loadLibc(): Promise<Libc> {
  loaded ??= loadLibcLibrary().then(({ koffi, lib }) => {
    const socket = lib.func('int socket(int, int, int)');
    const bind = lib.func('int bind(int, void *, uint32_t)');
    const setsockopt = lib.func('int setsockopt(int, int, int, void *, uint32_t)');
    const getsockopt = lib.func('int getsockopt(int, int, int, void *, void *)');
    const send = lib.func('long send(int, void *, size_t, int)');
    const recv = lib.func('long recv(int, void *, size_t, int)');
    const close = lib.func('int close(int)');
    return {
      socket: (d, t, p) => socket(d, t, p) as number,
      bind: (fd, a, l) => bind(fd, a, l) as number,
      setsockopt: (fd, l, n, v, len) => setsockopt(fd, l, n, v, len) as number,
      getsockopt: (fd, l, n, v, len) => getsockopt(fd, l, n, v, len) as number,
      send: (fd, b, l, f) => Number(send(fd, b, l, f)),
      recv: (fd, b, l, f) => Number(recv(fd, b, l, f)),
      close: (fd) => close(fd) as number,
      errno: () => koffi.errno(),
    };
  });
  return loaded;
}

const ERRNO_NAME = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
// Linux errnos Node's table lacks (ERESTART: a batch whose generation id went stale).
ERRNO_NAME.set(85, 'ERESTART');

/** `ENOENT` for 2 and so on; `errno N` for numbers Node does not name. */
export function errnoName(n: number): string {
  return ERRNO_NAME.get(n) ?? `errno ${n}`;
}
