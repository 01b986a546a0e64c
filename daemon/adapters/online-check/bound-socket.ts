/**
 * TCP sockets bound to one network device before they connect. Node has no API for
 * SO_BINDTODEVICE and a `net.connect()` socket has no fd until the connect is under way (too late
 * for routing), so the fd is made with libc through koffi (netlink/libc.ts) and then handed to `net.Socket`.
 * See research deps.md §5(c).
 */
import net from 'node:net';
import {
  AF_INET,
  AF_INET6,
  SO_BINDTODEVICE,
  SO_BINDTOIFINDEX,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from '../../../lib/native/linux.js';
import { errnoName, type Libc, loadLibc } from '../netlink/libc.js';

/** A failed libc call, with the errno name as `code` (like Node's own system errors). */
export class SocketSetupError extends Error {
  constructor(
    readonly call: string,
    readonly code: string,
  ) {
    super(`${call}: ${code}`);
    this.name = 'SocketSetupError';
  }
}

/**
 * Opens an unconnected, non-blocking TCP socket of `family` bound to the device `ifindex`
 * (falling back to SO_BINDTODEVICE with `ifname` on kernels without SO_BINDTOIFINDEX) and wraps
 * it in a `net.Socket`, which owns the fd from then on. Needs root (or CAP_NET_RAW) on kernels
 * before 5.7.
 * @throws SocketSetupError when koffi, socket() or setsockopt() fails.
 */
export async function openDeviceBoundSocket(family: 4 | 6, ifindex: number, ifname: string): Promise<net.Socket> {
  let c: Libc;
  try {
    c = await loadLibc();
  } catch (err) {
    throw new SocketSetupError('load koffi', err instanceof Error ? err.message : String(err));
  }
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SocketSetupError('socket', errnoName(c.errno()));
  let rc = -1;
  let errno = 0;
  if (ifindex > 0) {
    const value = Buffer.from(new Int32Array([ifindex]).buffer);
    rc = c.setsockopt(fd, SOL_SOCKET, SO_BINDTOIFINDEX, value, 4);
    errno = rc < 0 ? c.errno() : 0;
  }
  if (rc < 0 && (ifindex <= 0 || errnoName(errno) === 'ENOPROTOOPT')) {
    const value = Buffer.from(`${ifname}\0`);
    rc = c.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, value, value.length);
    errno = rc < 0 ? c.errno() : 0;
  }
  if (rc < 0) {
    c.close(fd);
    throw new SocketSetupError(`bind to device ${ifname}`, errnoName(errno));
  }
  try {
    return new net.Socket({ fd });
  } catch (err) {
    c.close(fd);
    throw err;
  }
}
