/**
 * A stand-in for systemd's notify socket: a unix datagram socket (a path, or an abstract `@name`)
 * that records every datagram the daemon sends. Node has no unix datagram sockets, so it is made
 * with libc through koffi (as the daemon's own sender is) and polled with non-blocking recv.
 */
import koffi from 'koffi';
import { notifyAddress } from '../../../daemon/adapters/system/sd-notify.js';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

const lib = koffi.load('libc.so.6');
const socket = lib.func('int socket(int, int, int)');
const bind = lib.func('int bind(int, const void *, uint32_t)');
const recv = lib.func('long recv(int, void *, size_t, int)');
const close = lib.func('int close(int)');

export interface NotifyMessage {
  /** performance.now() when it was read (polled every 2 ms). */
  at: number;
  /** The datagram's `KEY=value` lines. */
  fields: Record<string, string>;
  text: string;
}

export class NotifyListener {
  readonly messages: NotifyMessage[] = [];
  readonly #fd: number;
  readonly #timer: NodeJS.Timeout;
  readonly #buf = Buffer.alloc(4096);
  #onMessage: ((m: NotifyMessage) => void) | null = null;

  /** Binds `address` (an absolute path that must not exist yet, or `@abstract`). */
  constructor(readonly address: string) {
    const target = notifyAddress(address);
    if (!target) throw new Error(`not a notify socket address: ${address}`);
    this.#fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
    if (this.#fd < 0) throw new Error(`socket: errno ${koffi.errno()}`);
    if ((bind(this.#fd, target.addr, target.len) as number) < 0) {
      const errno = koffi.errno();
      close(this.#fd);
      throw new Error(`bind ${address}: errno ${errno}`);
    }
    this.#timer = setInterval(() => this.#drain(), 2);
  }

  #drain(): void {
    for (;;) {
      const n = Number(recv(this.#fd, this.#buf, this.#buf.length, 0));
      if (n < 0) return;
      const text = this.#buf.subarray(0, n).toString('utf8');
      const fields: Record<string, string> = {};
      for (const line of text.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
      }
      const m = { at: performance.now(), fields, text };
      this.messages.push(m);
      this.#onMessage?.(m);
    }
  }

  /** Calls `fn` synchronously for every message read from now on. */
  onMessage(fn: (m: NotifyMessage) => void): void {
    this.#onMessage = fn;
  }

  /** Resolves with the first recorded message (past or future) that `pred` accepts. */
  async waitFor(
    pred: (m: NotifyMessage) => boolean,
    timeoutMs = 10_000,
    what = 'a notify message',
  ): Promise<NotifyMessage> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = this.messages.find(pred);
      if (m) return m;
      if (performance.now() > deadline)
        throw new Error(`timed out waiting for ${what}; got: ${JSON.stringify(this.messages.map((x) => x.text))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    clearInterval(this.#timer);
    close(this.#fd);
  }
}
