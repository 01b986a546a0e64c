/**
 * D-Bus messages and values as the project's own wire code represents them. The shapes follow
 * the ones the code was written against (dbus-next's): a message has `type`, `flags`, `serial`,
 * `path`, `interface`, `member`, `errorName`, `replySerial`, `destination`, `sender`, `signature`
 * and `body`; a variant is `{ signature, value }`; a dict is a plain object; a struct is an
 * array; `ay` is a Buffer; `x`/`t` are BigInt.
 */

/** Message types (the specification's numbers). */
export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Header flags. */
export const MessageFlag = { NO_REPLY_EXPECTED: 1, NO_AUTO_START: 2, ALLOW_INTERACTIVE_AUTHORIZATION: 4 } as const;

/** RequestName flags. */
export const NameFlag = { ALLOW_REPLACEMENT: 1, REPLACE_EXISTING: 2, DO_NOT_QUEUE: 4 } as const;

/** RequestName replies. */
export const RequestNameReply = { PRIMARY_OWNER: 1, IN_QUEUE: 2, EXISTS: 3, ALREADY_OWNER: 4 } as const;

/**
 * A value with its own signature (`v`). The marshaller accepts any `{ signature, value }`
 * object in a `v` position; received variants are instances of this class.
 */
export class Variant<T = unknown> {
  constructor(
    readonly signature: string,
    readonly value: T,
  ) {}
}

/** What {@link Message}'s constructor takes. */
export interface MessageInit {
  type?: number;
  flags?: number;
  serial?: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  body?: unknown[];
  /** See {@link Message.bodyBytes}. */
  bodyBytes?: Buffer | null;
}

/** One D-Bus message. Unset header fields are `''` (and `replySerial` 0), never undefined. */
export class Message {
  type: number;
  flags: number;
  /** 0 until the connection sends it. */
  serial: number;
  path: string;
  interface: string;
  member: string;
  errorName: string;
  replySerial: number;
  destination: string;
  sender: string;
  signature: string;
  body: unknown[];
  /**
   * `body` already marshalled (little-endian, from an 8-aligned start: `marshallBody`), when one
   * body goes out in many messages (the same Update to many sessions): the marshaller copies these
   * bytes instead of encoding `body` again. Whoever changes `body` must clear it.
   */
  bodyBytes: Buffer | null;

  constructor(init: MessageInit) {
    this.type = init.type ?? MessageType.METHOD_CALL;
    this.flags = init.flags ?? 0;
    this.serial = init.serial ?? 0;
    this.path = init.path ?? '';
    this.interface = init.interface ?? '';
    this.member = init.member ?? '';
    this.errorName = init.errorName ?? '';
    this.replySerial = init.replySerial ?? 0;
    this.destination = init.destination ?? '';
    this.sender = init.sender ?? '';
    this.signature = init.signature ?? '';
    this.body = init.body ?? [];
    this.bodyBytes = init.bodyBytes ?? null;
  }

  /** The reply to the method call `call`. */
  static newMethodReturn(call: Message, signature = '', body: unknown[] = []): Message {
    return new Message({
      type: MessageType.METHOD_RETURN,
      replySerial: call.serial,
      destination: call.sender,
      signature,
      body,
    });
  }

  /** An error reply to `call`, with the text as its one `s` argument. */
  static newError(call: Message, errorName: string, text = ''): Message {
    return new Message({
      type: MessageType.ERROR,
      replySerial: call.serial,
      destination: call.sender,
      errorName,
      signature: 's',
      body: [text],
    });
  }

  /** A broadcast signal. */
  static newSignal(path: string, iface: string, member: string, signature = '', body: unknown[] = []): Message {
    return new Message({ type: MessageType.SIGNAL, path, interface: iface, member, signature, body });
  }
}

/** An error reply received for a call: its D-Bus name in `type`, its first string argument in `text`. */
export class DBusError extends Error {
  override readonly name = 'DBusError';
  constructor(
    readonly type: string,
    readonly text: string,
    readonly reply?: Message,
  ) {
    super(text ? `${type}: ${text}` : type);
  }
}

// The specification's syntax of names; checked on every message read, and on what we send.
const ELEMENT = '[A-Za-z_][A-Za-z0-9_]*';
const INTERFACE_RE = new RegExp(`^${ELEMENT}(?:\\.${ELEMENT})+$`);
const MEMBER_RE = new RegExp(`^${ELEMENT}$`);
const UNIQUE_RE = /^:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+$/;
const WELL_KNOWN_RE = /^[A-Za-z_-][A-Za-z0-9_-]*(?:\.[A-Za-z_-][A-Za-z0-9_-]*)+$/;
const MAX_NAME = 255;

/** An object path by the specification (`/`, or `/`-separated `[A-Za-z0-9_]+` elements). */
export function isObjectPath(s: string): boolean {
  // A loop, not a regular expression: every message carries one or more paths, checked both
  // ways, and this is several times faster.
  const n = s.length;
  if (n === 0 || s.charCodeAt(0) !== 0x2f) return false;
  if (n === 1) return true;
  let prevSlash = true;
  for (let i = 1; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2f) {
      if (prevSlash) return false;
      prevSlash = true;
    } else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f) {
      prevSlash = false;
    } else {
      return false;
    }
  }
  return !prevSlash;
}

/** An interface name (also the syntax of error names). */
export function isInterfaceName(s: string): boolean {
  return s.length <= MAX_NAME && INTERFACE_RE.test(s);
}

/** A member (method or signal) name. */
export function isMemberName(s: string): boolean {
  return s.length <= MAX_NAME && MEMBER_RE.test(s);
}

/** A bus name: unique (`:1.42`) or well-known (`net.connman`). */
export function isBusName(s: string): boolean {
  return s.length <= MAX_NAME && (s.startsWith(':') ? UNIQUE_RE.test(s) : WELL_KNOWN_RE.test(s));
}
