/**
 * Watching a file descriptor on Node's own event loop: a libuv `uv_poll_t` through koffi.
 *
 * Why: Node cannot watch an arbitrary fd (net.Socket and dgram accept only TCP, UDP and Unix
 * fds), and a blocking poll() on a libuv pool thread holds that thread for good (with
 * UV_THREADPOOL_SIZE=1 nothing else, fs included, would ever run). Node exports libuv to addons,
 * so a `uv_poll_t` on the default loop (the main thread's, where the daemon runs) calls back on
 * the main thread when the fd is readable: no thread is blocked and no process is spawned.
 * koffi is already a dependency. Used by the netlink event sockets and the DHCP packet socket.
 */
import { loadLibcLibrary } from '../../../lib/native/libc.js';

const UV_POLL = 8;
const UV_READABLE = 1;

/** One watched fd. */
export interface FdWatch {
  /**
   * Watches again after libuv stopped the handle (it does so on POLLERR, reporting a negative
   * status). False when libuv refused.
   */
  restart(): boolean;
  /** Stops watching (the fd may be closed right after); the handle is freed once libuv is done. */
  stop(): void;
}

/**
 * Calls `onEvent(status)` on the main thread whenever `fd` is readable (status 0) or in error
 * (status < 0, a libuv error code; the watch is then stopped until {@link FdWatch.restart}).
 * `onEvent` must not throw.
 * @throws Error when libuv refuses the fd.
 */
export type WatchFd = (fd: number, onEvent: (status: number) => void) => FdWatch;

let loaded: Promise<WatchFd> | undefined;

/** Binds libuv's poll functions from the running node binary, once. */
export function loadFdWatcher(): Promise<WatchFd> {
  loaded ??= loadLibcLibrary().then(({ koffi }) => {
    // The node binary itself (or libnode it links): libuv's exported functions.
    const self = koffi.load(null as unknown as string);
    const uvDefaultLoop = self.func('void *uv_default_loop()');
    const uvHandleSize = self.func('size_t uv_handle_size(int)');
    const uvPollInit = self.func('int uv_poll_init(void *, void *, int)');
    const PollCb = koffi.proto('void netsession_uv_poll_cb(void *handle, int status, int events)');
    const CloseCb = koffi.proto('void netsession_uv_close_cb(void *handle)');
    const uvPollStart = self.func('int uv_poll_start(void *, int, netsession_uv_poll_cb *)');
    const uvClose = self.func('void uv_close(void *, netsession_uv_close_cb *)');
    const loop = uvDefaultLoop();
    const handleSize = Number(uvHandleSize(UV_POLL));
    // One callback of each kind for the process, dispatching on the handle's address: koffi has a
    // bounded number of callback slots.
    const watchers = new Map<bigint, (status: number) => void>();
    const closing = new Map<bigint, unknown>();
    const onPoll = koffi.register((handle: unknown, status: number) => {
      watchers.get(koffi.address(handle))?.(status);
    }, koffi.pointer(PollCb));
    const onClosed = koffi.register((handle: unknown) => {
      const at = koffi.address(handle);
      const mem = closing.get(at);
      closing.delete(at);
      if (mem !== undefined) koffi.free(mem);
    }, koffi.pointer(CloseCb));
    return (fd, onEvent) => {
      const mem = koffi.alloc('uint8_t', handleSize);
      const at = koffi.address(mem);
      if ((uvPollInit(loop, mem, fd) as number) !== 0) {
        koffi.free(mem);
        throw new Error('uv_poll_init failed');
      }
      const stop = (): void => {
        if (!watchers.delete(at)) return;
        closing.set(at, mem);
        // The memory is freed once libuv is done with the handle (onClosed).
        uvClose(mem, onClosed);
      };
      const start = (): boolean => watchers.has(at) && (uvPollStart(mem, UV_READABLE, onPoll) as number) === 0;
      watchers.set(at, onEvent);
      if (!start()) {
        stop();
        throw new Error('uv_poll_start failed');
      }
      return { restart: start, stop };
    };
  });
  return loaded;
}
