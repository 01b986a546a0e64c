/**
 * systemd's readiness protocol (sd_notify(3)): datagrams such as `READY=1`, `STATUS=…` and
 * `WATCHDOG=1` sent to the unix datagram socket named by `NOTIFY_SOCKET` (a path, or an abstract
 * name written `@name`). Node has no unix datagram sockets and the hot path spawns no process
 * (`systemd-notify` would also be reported as a different pid, which `NotifyAccess=main`
 * rejects), so the socket is made with libc through koffi (lib/native/libc.ts). Without
 * `NOTIFY_SOCKET` (not run by systemd) nothing is loaded and every call is a no-op.
 */
import { loadLibcLibrary } from '../../../lib/native/libc.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM } from '../../../lib/native/linux.js';
import type { Logger } from '../../ports.js';

const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un): sa_family_t + sun_path[108]. */
const SOCKADDR_UN_SIZE = 110;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number): number;
  close(fd: number): number;
  errno(): number;
}

async function loadLibc(): Promise<Libc> {
  const { koffi, lib } = await loadLibcLibrary();
  const socket = lib.func('int socket(int, int, int)');
  const sendto = lib.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)');
  const close = lib.func('int close(int)');
  return {
    socket: (d, t, p) => socket(d, t, p) as number,
    sendto: (fd, b, l, f, a, al) => Number(sendto(fd, b, l, f, a, al)),
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
  };
}

/**
 * `struct sockaddr_un` for `NOTIFY_SOCKET` and its length, or null when the value is not a
 * usable address (empty, too long, or neither absolute nor abstract: sd_notify(3) ignores those).
 */
export function notifyAddress(value: string): { addr: Buffer; len: number } | null {
  const abstract = value.startsWith('@');
  if (!abstract && !value.startsWith('/')) return null;
  const name = Buffer.from(abstract ? value.slice(1) : value, 'utf8');
  // A path needs room for its terminating NUL; an abstract name is counted exactly.
  const pathLen = abstract ? 1 + name.length : name.length + 1;
  if (name.length === 0 || pathLen > SOCKADDR_UN_SIZE - 2) return null;
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, abstract ? 3 : 2);
  return { addr, len: 2 + pathLen };
}

/** The watchdog period systemd asked for (`WATCHDOG_USEC`, for this pid), in ms; 0 = none. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return 0;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return 0;
  // sd_watchdog_enabled(3): ping at half the period, so one late timer does not trip it.
  return Math.max(1, Math.floor(usec / 2000));
}

/** What the daemon tells its service manager. */
export interface ServiceNotifier {
  /** Sends `STATUS=<text>` (shown by `systemctl status`). */
  status(text: string): void;
  /** Sends `READY=1` with a status line, then starts the watchdog pings if asked for. */
  ready(status: string): void;
  /** Sends `STOPPING=1` and stops the watchdog. */
  stopping(status: string): void;
}

/**
 * Opens the notify socket named by `env.NOTIFY_SOCKET` (no-op notifier without one). A send that
 * fails is logged once per kind and never fatal: a lost READY=1 is systemd's start timeout to
 * report, not a reason to stop serving.
 */
export async function createServiceNotifier(opts: { env?: NodeJS.ProcessEnv; log: Logger }): Promise<ServiceNotifier> {
  const env = opts.env ?? process.env;
  const raw = env.NOTIFY_SOCKET ?? '';
  const noop: ServiceNotifier = { status() {}, ready() {}, stopping() {} };
  if (raw === '') return noop;
  const target = notifyAddress(raw);
  if (!target) {
    opts.log(
      'warn',
      `NOTIFY_SOCKET=${raw} is not an absolute path or @abstract name: not notifying the service manager`,
    );
    return noop;
  }
  let libc: Libc;
  try {
    libc = await loadLibc();
  } catch (err) {
    opts.log('warn', `cannot load koffi to notify the service manager: ${(err as Error).message}`);
    return noop;
  }
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    opts.log('warn', `cannot open a socket to notify the service manager (errno ${libc.errno()})`);
    return noop;
  }
  // Children (udhcpc) must not inherit it and talk to systemd as us.
  delete env.NOTIFY_SOCKET;
  const failed = new Set<string>();
  const send = (text: string): void => {
    const buf = Buffer.from(text, 'utf8');
    if (libc.sendto(fd, buf, buf.length, MSG_NOSIGNAL, target.addr, target.len) >= 0) return;
    const kind = text.slice(0, text.indexOf('='));
    if (failed.has(kind)) return;
    failed.add(kind);
    opts.log('warn', `notifying the service manager (${kind}) failed: errno ${libc.errno()}`);
  };
  const watchdogMs = watchdogIntervalMs(env, process.pid);
  let watchdog: NodeJS.Timeout | null = null;
  // One line per state: STATUS= carries no newline (systemd shows the last value whole).
  const line = (s: string) => s.replace(/\n/g, ' ');
  return {
    status: (text) => send(`STATUS=${line(text)}`),
    ready(status) {
      send(`READY=1\nSTATUS=${line(status)}\nMAINPID=${process.pid}`);
      if (watchdogMs > 0 && !watchdog) {
        // The ping runs on the event loop: a daemon stuck in a loop misses it and systemd restarts it.
        watchdog = setInterval(() => send('WATCHDOG=1'), watchdogMs);
        watchdog.unref();
      }
    },
    stopping(status) {
      if (watchdog) clearInterval(watchdog);
      watchdog = null;
      send(`STOPPING=1\nSTATUS=${line(status)}`);
    },
  };
}
