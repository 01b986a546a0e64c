/**
 * The server side of D-Bus authentication (the specification's "Authentication protocol"), as a
 * pure state machine fed with the bytes a peer sends: only the EXTERNAL mechanism, and only for
 * the uid the kernel reports for the socket (SO_PEERCRED), as dbus-daemon does on the system bus.
 * No unix fd passing is offered. Kept apart from the socket so every odd client (libdbus and
 * sd-bus send `AUTH EXTERNAL <hex uid>`, GDBus may send `AUTH EXTERNAL` and answer `DATA`) is
 * tested without one.
 */

/** What the server does after a chunk: lines to send, and whether the peer is in or must go. */
export interface SaslStep {
  /** Lines to write, in order (each ends with CRLF). */
  replies: string[];
  /** Set once the peer sent BEGIN after OK: the bytes after it are its first messages. */
  begun?: { rest: Buffer };
  /** Set when the peer must be disconnected (protocol violation, too long a line, too many tries). */
  fail?: string;
}

/** Longest line accepted (dbus-daemon allows 16 KiB; ours are a few dozen bytes). */
const MAX_LINE = 4096;
/** Failed AUTH attempts before the peer is dropped. */
const MAX_REJECTS = 4;
const REJECTED = 'REJECTED EXTERNAL\r\n';

type State = 'nul' | 'auth' | 'data' | 'begin';

/** One peer's authentication. */
export class SaslServer {
  readonly #uid: number;
  readonly #guid: string;
  #state: State = 'nul';
  #buf = '';
  #rejects = 0;

  /** `uid`: the peer's uid as the kernel reports it; `guid`: this server's GUID (32 hex digits). */
  constructor(uid: number, guid: string) {
    this.#uid = uid;
    this.#guid = guid;
  }

  /** Feeds what the peer sent. After `begun` or `fail`, feed nothing more. */
  feed(chunk: Buffer): SaslStep {
    const replies: string[] = [];
    let at = 0;
    if (this.#state === 'nul' && chunk.length > 0) {
      // The credentials byte the protocol starts with.
      if (chunk[0] !== 0) return { replies, fail: 'the first byte was not NUL' };
      this.#state = 'auth';
      at = 1;
    }
    // latin1 keeps one character per byte, so the offset of BEGIN's end is a byte offset.
    const text = chunk.toString('latin1', at);
    let start = 0;
    let consumed = at;
    this.#buf += text;
    const base = this.#buf.length - text.length;
    for (;;) {
      const eol = this.#buf.indexOf('\r\n', start);
      if (eol < 0) break;
      const line = this.#buf.slice(start, eol);
      start = eol + 2;
      const step = this.#line(line);
      if (step.reply) replies.push(step.reply);
      if (step.fail) return { replies, fail: step.fail };
      if (step.begun) {
        consumed = at + (start - base);
        return { replies, begun: { rest: chunk.subarray(consumed) } };
      }
    }
    this.#buf = this.#buf.slice(start);
    if (this.#buf.length > MAX_LINE) return { replies, fail: `an authentication line over ${MAX_LINE} bytes` };
    return { replies };
  }

  #line(line: string): { reply?: string; fail?: string; begun?: true } {
    const sp = line.indexOf(' ');
    const command = sp < 0 ? line : line.slice(0, sp);
    const arg = sp < 0 ? '' : line.slice(sp + 1);
    switch (this.#state) {
      case 'auth':
        if (command === 'AUTH') return this.#auth(arg);
        if (command === 'BEGIN') return { fail: 'BEGIN before authentication' };
        if (command === 'CANCEL' || command === 'ERROR') return this.#reject();
        return { reply: 'ERROR "Unknown command"\r\n' };
      case 'data':
        if (command === 'DATA') return this.#external(arg);
        if (command === 'BEGIN') return { fail: 'BEGIN before authentication' };
        this.#state = 'auth';
        if (command === 'CANCEL' || command === 'ERROR') return this.#reject();
        return { reply: 'ERROR "Expected DATA"\r\n' };
      default:
        if (command === 'BEGIN') return { begun: true };
        if (command === 'NEGOTIATE_UNIX_FD') return { reply: 'ERROR "Unix fd passing is not offered"\r\n' };
        this.#state = 'auth';
        if (command === 'CANCEL' || command === 'ERROR') return this.#reject();
        return { reply: 'ERROR "Expected BEGIN"\r\n' };
    }
  }

  #auth(arg: string): { reply?: string; fail?: string } {
    const sp = arg.indexOf(' ');
    const mechanism = sp < 0 ? arg : arg.slice(0, sp);
    if (mechanism !== 'EXTERNAL') return this.#reject();
    if (sp < 0) {
      this.#state = 'data';
      return { reply: 'DATA\r\n' };
    }
    return this.#external(arg.slice(sp + 1));
  }

  /** EXTERNAL's response: the claimed uid in hex-encoded ASCII, or nothing for "whoever I am". */
  #external(hex: string): { reply?: string; fail?: string } {
    if (hex !== '') {
      const claimed = /^(?:[0-9a-fA-F]{2})+$/.test(hex) ? Buffer.from(hex, 'hex').toString('latin1') : '';
      if (!/^\d{1,10}$/.test(claimed) || Number(claimed) !== this.#uid) return this.#reject();
    }
    this.#state = 'begin';
    return { reply: `OK ${this.#guid}\r\n` };
  }

  #reject(): { reply?: string; fail?: string } {
    this.#state = 'auth';
    this.#rejects += 1;
    if (this.#rejects > MAX_REJECTS) return { fail: 'too many failed authentication attempts' };
    return { reply: REJECTED };
  }
}
