/**
 * Connecting to a Linux abstract unix socket (`unix:abstract=` bus addresses). `node:net`
 * accepts a path starting with NUL but passes the whole 108-byte `sun_path` as the address, so
 * it reaches `@name@@@@…`, never the `@name` a dbus-daemon listens on. Here the socket is made
 * and connected with libc through koffi (an optional peer dependency, loaded only when such an
 * address is used) with the exact address length, then handed to `net.Socket`. Without koffi
 * the connect fails with a {@link NativeModuleMissingError} that says what to do.
 */
import net, { createConnection } from 'node:net';
import os from 'node:os';
import { NativeModuleMissingError } from '../errors.js';
import { importKoffi, type KoffiImporter, loadLibcLibrary } from '../native/libc.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM } from '../native/linux.js';

/** sizeof(struct sockaddr_un). */
const SOCKADDR_UN = 110;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  close(fd: number): number;
  errno(): number;
}

let libc: Promise<Libc> | undefined;

function bind(importer: KoffiImporter): Promise<Libc> {
  return loadLibcLibrary(importer).then(({ koffi, lib }) => {
    const socket = lib.func('int socket(int, int, int)');
    const connect = lib.func('int connect(int, void *, uint32_t)');
    const close = lib.func('int close(int)');
    return {
      socket: (d, t, p) => socket(d, t, p) as number,
      connect: (fd, a, l) => connect(fd, a, l) as number,
      close: (fd) => close(fd) as number,
      errno: () => koffi.errno(),
    };
  });
}

async function loadLibc(name: string, importer: KoffiImporter): Promise<Libc> {
  let pending: Promise<Libc>;
  if (importer !== importKoffi) pending = bind(importer);
  else {
    pending = libc ??= bind(importer);
    // A failure is not kept: koffi installed later is then found.
    pending.catch(() => {
      if (libc === pending) libc = undefined;
    });
  }
  try {
    return await pending;
  } catch (err) {
    if (!(err instanceof NativeModuleMissingError)) throw err;
    const advice = `the bus address unix:abstract=${name} needs the optional package koffi (Node's net cannot reach abstract socket names): install it (npm install koffi) or use a unix:path= bus address`;
    throw new NativeModuleMissingError('koffi', `${advice}; ${err.message}`, { cause: err.cause });
  }
}

const ERRNO_NAME = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));

/**
 * A connected stream socket to the abstract name `name` (without the leading NUL). `importer`
 * replaces koffi's import (tests of the path without it).
 */
export async function connectAbstract(name: string, importer: KoffiImporter = importKoffi): Promise<net.Socket> {
  const bytes = Buffer.from(name, 'utf8');
  if (bytes.length === 0 || bytes.length > SOCKADDR_UN - 3)
    throw new Error(`abstract socket name of ${bytes.length} bytes`);
  const c = await loadLibc(name, importer);
  const fail = (call: string): Error => {
    const code = ERRNO_NAME.get(c.errno()) ?? `errno ${c.errno()}`;
    return Object.assign(new Error(`${call} @${name}: ${code}`), { code });
  };
  // Blocking: a unix connect completes at once (or fails), and libuv makes the fd non-blocking.
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail('socket');
  const addr = Buffer.alloc(SOCKADDR_UN);
  // sa_family_t in the host's byte order.
  Buffer.from(new Uint16Array([AF_UNIX]).buffer).copy(addr, 0);
  bytes.copy(addr, 3);
  if (c.connect(fd, addr, 3 + bytes.length) < 0) {
    const err = fail('connect');
    c.close(fd);
    throw err;
  }
  return new net.Socket({ fd, readable: true, writable: true });
}

/** The first socket of `paths` that opens; only a missing koffi passes to the next one. */
export async function openSocket(paths: readonly string[], importer: KoffiImporter | undefined): Promise<net.Socket> {
  let missing: NativeModuleMissingError | undefined;
  for (const path of paths) {
    if (!path.startsWith('\0')) return createConnection({ path });
    try {
      return await connectAbstract(path.slice(1), importer);
    } catch (err) {
      if (!(err instanceof NativeModuleMissingError)) throw err;
      missing ??= err;
    }
  }
  throw missing!;
}
