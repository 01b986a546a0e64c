/**
 * Bytes -> Message, for both byte orders, validating as it reads: every length against the
 * buffer and the specification's limits, padding bytes zero, booleans 0 or 1, strings UTF-8
 * without NUL, object paths, names and signatures by their syntax, variant nesting bounded, and
 * the body consumed exactly. Anything else is a {@link MalformedMessageError}; nothing a peer
 * sends can make this loop or recurse without bound.
 */
import { isUtf8 } from 'node:buffer';
import { MAX_ARRAY_LENGTH, MAX_MESSAGE_LENGTH } from './marshall.js';
import { isBusName, isInterfaceName, isMemberName, isObjectPath, Message, MessageType, Variant } from './message.js';
import { parseSignature, SignatureError, type TypeNode } from './signature.js';

/** A message that breaks the wire format. `header` is set when only its body is bad (the header could be read). */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
  constructor(
    message: string,
    readonly header?: Message,
  ) {
    super(message);
  }
}

/** Variants inside variants: the specification's limit for the whole nesting. */
const MAX_VARIANT_DEPTH = 64;

const EMPTY = Buffer.alloc(0);
let buf: Buffer = EMPTY;
let base = 0;
let off = 0;
let end = 0;
let le = true;

function bad(what: string): never {
  throw new MalformedMessageError(what);
}

function need(n: number): void {
  if (off + n > end) bad('message truncated');
}

function align(a: number): void {
  const p = (a - ((off - base) % a)) % a;
  if (p === 0) return;
  need(p);
  for (let i = 0; i < p; i++) if (buf[off + i] !== 0) bad('non-zero padding');
  off += p;
}

function u32(): number {
  align(4);
  need(4);
  // Byte by byte: Buffer#readUInt32LE pays Node's own argument checks, which the daemon's
  // --no-opt does not optimize away (bounds are checked by need()).
  const v = le
    ? (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0
    : ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
  off += 4;
  return v;
}

function text(start: number, stop: number): string {
  let ascii = true;
  for (let i = start; i < stop; i++) {
    const c = buf[i]!;
    if (c === 0) bad('NUL inside a string');
    if (c >= 0x80) ascii = false;
  }
  if (ascii) return buf.toString('latin1', start, stop);
  if (!isUtf8(buf.subarray(start, stop))) bad('string is not valid UTF-8');
  return buf.toString('utf8', start, stop);
}

function str(code: string): string {
  const len = u32();
  need(len + 1);
  if (buf[off + len] !== 0) bad('string not NUL-terminated');
  const s = text(off, off + len);
  off += len + 1;
  if (code === 'o' && !isObjectPath(s)) bad(`invalid object path '${s}'`);
  return s;
}

function sig(): string {
  need(1);
  const len = buf[off]!;
  need(len + 2);
  if (buf[off + 1 + len] !== 0) bad('signature not NUL-terminated');
  const s = text(off + 1, off + 1 + len);
  off += len + 2;
  return s;
}

function parsed(s: string): readonly TypeNode[] {
  try {
    return parseSignature(s);
  } catch (err) {
    if (err instanceof SignatureError) bad(err.message);
    throw err;
  }
}

// Assigning `__proto__` on a plain object would set its prototype instead of adding a key.
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function read(t: TypeNode, depth: number): unknown {
  switch (t.code) {
    case 'y':
      need(1);
      return buf[off++]!;
    case 'b': {
      const v = u32();
      if (v > 1) bad(`boolean ${v}`);
      return v === 1;
    }
    case 'n':
    case 'q': {
      align(2);
      need(2);
      const v =
        t.code === 'n'
          ? le
            ? buf.readInt16LE(off)
            : buf.readInt16BE(off)
          : le
            ? buf.readUInt16LE(off)
            : buf.readUInt16BE(off);
      off += 2;
      return v;
    }
    case 'i': {
      align(4);
      need(4);
      const v = le ? buf.readInt32LE(off) : buf.readInt32BE(off);
      off += 4;
      return v;
    }
    case 'u':
    case 'h':
      return u32();
    case 'x':
    case 't': {
      align(8);
      need(8);
      const v =
        t.code === 'x'
          ? le
            ? buf.readBigInt64LE(off)
            : buf.readBigInt64BE(off)
          : le
            ? buf.readBigUInt64LE(off)
            : buf.readBigUInt64BE(off);
      off += 8;
      return v;
    }
    case 'd': {
      align(8);
      need(8);
      const v = le ? buf.readDoubleLE(off) : buf.readDoubleBE(off);
      off += 8;
      return v;
    }
    case 's':
    case 'o':
      return str(t.code);
    case 'g': {
      const s = sig();
      parsed(s);
      return s;
    }
    case 'v': {
      if (depth >= MAX_VARIANT_DEPTH) bad('variants nested too deeply');
      const s = sig();
      const types = parsed(s);
      if (types.length !== 1) bad(`variant signature '${s}' is not a single complete type`);
      return new Variant(s, read(types[0]!, depth + 1));
    }
    case 'a':
      return readArray(t, depth);
    case '(': {
      align(8);
      const out: unknown[] = [];
      for (const c of t.child) out.push(read(c, depth));
      return out;
    }
    default:
      return bad(`cannot read type '${t.code}'`);
  }
}

function readArray(t: TypeNode, depth: number): unknown {
  const len = u32();
  if (len > MAX_ARRAY_LENGTH) bad(`array of ${len} bytes`);
  const elem = t.child[0]!;
  align(elem.align);
  need(len);
  const stop = off + len;
  if (elem.code === 'y') {
    // A copy: a view would keep the whole read chunk alive.
    const out = Buffer.from(buf.subarray(off, stop));
    off = stop;
    return out;
  }
  if (elem.code === '{') {
    const [kt, vt] = elem.child as [TypeNode, TypeNode];
    const out: Record<string, unknown> = {};
    while (off < stop) {
      align(8);
      const k = read(kt, depth);
      setOwn(out, String(k), read(vt, depth));
    }
    if (off !== stop) bad('array content overruns its length');
    return out;
  }
  const out: unknown[] = [];
  while (off < stop) out.push(read(elem, depth));
  if (off !== stop) bad('array content overruns its length');
  return out;
}

/**
 * The total length of the message starting at `at` (which holds at least 16 bytes), from its
 * fixed header. Throws {@link MalformedMessageError} for a byte order, version or length that is
 * not D-Bus: the stream cannot be resynchronised after that.
 */
export function frameLength(b: Buffer, at: number): number {
  const e = b[at];
  if (e !== 0x6c && e !== 0x42) throw new MalformedMessageError(`bad byte-order mark ${e}`);
  if (b[at + 3] !== 1) throw new MalformedMessageError(`unsupported protocol version ${b[at + 3]}`);
  const little = e === 0x6c;
  const body = little ? b.readUInt32LE(at + 4) : b.readUInt32BE(at + 4);
  const fields = little ? b.readUInt32LE(at + 12) : b.readUInt32BE(at + 12);
  if (fields > MAX_ARRAY_LENGTH) throw new MalformedMessageError(`header fields of ${fields} bytes`);
  const total = 16 + fields + ((8 - (fields % 8)) % 8) + body;
  if (total > MAX_MESSAGE_LENGTH) throw new MalformedMessageError(`message of ${total} bytes`);
  return total;
}

const FIELD_TYPES = ['', 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'];

function readHeader(msg: Message): void {
  const len = u32();
  const stop = off + len;
  need(len);
  while (off < stop) {
    align(8);
    need(1);
    const code = buf[off++]!;
    const s = sig();
    const types = parsed(s);
    if (types.length !== 1) bad(`header field signature '${s}'`);
    const expected = FIELD_TYPES[code];
    if (expected !== undefined && expected !== '' && s !== expected) bad(`header field ${code} has type '${s}'`);
    const v = read(types[0]!, 0);
    switch (code) {
      case 1:
        msg.path = v as string;
        break;
      case 2:
        if (!isInterfaceName(v as string)) bad(`invalid interface '${v as string}'`);
        msg.interface = v as string;
        break;
      case 3:
        if (!isMemberName(v as string)) bad(`invalid member '${v as string}'`);
        msg.member = v as string;
        break;
      case 4:
        if (!isInterfaceName(v as string)) bad(`invalid error name '${v as string}'`);
        msg.errorName = v as string;
        break;
      case 5:
        msg.replySerial = v as number;
        break;
      case 6:
        if (!isBusName(v as string)) bad(`invalid destination '${v as string}'`);
        msg.destination = v as string;
        break;
      case 7:
        if (!isBusName(v as string)) bad(`invalid sender '${v as string}'`);
        msg.sender = v as string;
        break;
      case 8:
        msg.signature = v as string;
        break;
      case 9:
        // Unix fds cannot arrive over node:net; a message that claims some is refused below.
        if ((v as number) > 0) bad('message carries unix file descriptors');
        break;
      default:
        // Unknown header fields must be ignored (the specification's rule).
        break;
    }
  }
  if (off !== stop) bad('header fields overrun their length');
  align(8);
  switch (msg.type) {
    case MessageType.METHOD_CALL:
      if (!msg.path || !msg.member) bad('method call without path or member');
      break;
    case MessageType.SIGNAL:
      if (!msg.path || !msg.interface || !msg.member) bad('signal without path, interface or member');
      break;
    case MessageType.ERROR:
      if (!msg.errorName || !msg.replySerial) bad('error without name or reply serial');
      break;
    case MessageType.METHOD_RETURN:
      if (!msg.replySerial) bad('method return without reply serial');
      break;
    default:
      break;
  }
}

/**
 * Reads the message of `length` bytes at `at` in `b` (length from {@link frameLength}).
 * Throws {@link MalformedMessageError}; its `header` is set when only the body was bad.
 */
export function unmarshallMessage(b: Buffer, at = 0, length = b.length - at): Message {
  buf = b;
  base = at;
  off = at;
  end = at + length;
  le = b[at] === 0x6c;
  const type = b[at + 1]!;
  const msg = new Message({ type, flags: b[at + 2]!, serial: le ? b.readUInt32LE(at + 8) : b.readUInt32BE(at + 8) });
  try {
    if (msg.serial === 0) bad('serial 0');
    off = at + 12;
    readHeader(msg);
    const bodyLength = le ? b.readUInt32LE(at + 4) : b.readUInt32BE(at + 4);
    if (off + bodyLength !== end) bad('body length does not match the message length');
  } finally {
    // Never keep a peer's chunk alive through the module state.
    buf = EMPTY;
  }
  buf = b;
  try {
    const types = parsed(msg.signature);
    const body: unknown[] = [];
    for (const t of types) body.push(read(t, 0));
    if (off !== end) bad('bytes left after the body');
    msg.body = body;
    return msg;
  } catch (err) {
    if (err instanceof MalformedMessageError) throw new MalformedMessageError(err.message, msg);
    throw err;
  } finally {
    buf = EMPTY;
  }
}
