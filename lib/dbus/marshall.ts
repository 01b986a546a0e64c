/**
 * Message -> bytes. The whole message (header, header fields, body) is written into one scratch
 * buffer and copied out once, so a message costs one allocation and one socket write; types are
 * walked from cached signature trees (see signature.ts), never re-parsed.
 *
 * Values are accepted as the rest of the code holds them: `x`/`t` as BigInt, integral numbers or
 * decimal strings; small integers as numbers or BigInt; `v` as any `{ signature, value }`; dicts
 * as plain objects or Maps; `ay` as a Buffer/Uint8Array or an array. Anything that does not fit
 * its type throws a TypeError before a byte reaches the socket.
 *
 * An Update is ~40 short ASCII strings in plain-object dicts, so those take shortcuts: ASCII is
 * copied by a JS loop rather than a call into `Buffer#write` (whose argument checks run
 * unoptimized in the daemon), a variant's signature is not parsed twice, and a plain object's
 * entries are walked without `Object.entries`. A body sent in many messages is encoded once
 * ({@link marshallBody}, {@link Message.bodyBytes}).
 */
import { isBusName, isInterfaceName, isMemberName, isObjectPath, type Message, MessageType } from './message.js';
import { parseSignature, singleType, type TypeNode } from './signature.js';

/** Largest message the specification allows. */
export const MAX_MESSAGE_LENGTH = 2 ** 27;
/** Largest array the specification allows. */
export const MAX_ARRAY_LENGTH = 2 ** 26;

const SCRATCH_SIZE = 16 * 1024;
const SCRATCH_KEEP = 1024 * 1024;
let buf = Buffer.allocUnsafe(SCRATCH_SIZE);
let off = 0;
let le = true;

function ensure(n: number): void {
  if (off + n <= buf.length) return;
  let size = buf.length * 2;
  while (size < off + n) size *= 2;
  if (size > 2 * MAX_MESSAGE_LENGTH) throw new RangeError('D-Bus message too large');
  const next = Buffer.allocUnsafe(size);
  buf.copy(next, 0, 0, off);
  buf = next;
}

// Bytes are stored one by one: without V8's optimizing compiler (the daemon's #! line) Buffer#fill
// and #writeUInt32LE pay their argument checks in Node's own JS (an Update: 37 µs before).

function pad(align: number): void {
  const p = (align - (off % align)) % align;
  if (p === 0) return;
  ensure(p);
  for (let i = 0; i < p; i++) buf[off++] = 0;
}

/** Stores a u32 at `at` in the message's byte order (no alignment, no bounds growth). */
function put32(v: number, at: number): void {
  if (le) {
    buf[at] = v & 0xff;
    buf[at + 1] = (v >>> 8) & 0xff;
    buf[at + 2] = (v >>> 16) & 0xff;
    buf[at + 3] = v >>> 24;
  } else {
    buf[at] = v >>> 24;
    buf[at + 1] = (v >>> 16) & 0xff;
    buf[at + 2] = (v >>> 8) & 0xff;
    buf[at + 3] = v & 0xff;
  }
}

function u32(v: number): void {
  pad(4);
  ensure(4);
  put32(v >>> 0, off);
  off += 4;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function int(code: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new TypeError(
      `expected an integer in [${min}, ${max}] for '${code}', got ${typeof value === 'number' || typeof value === 'bigint' ? String(value) : describe(value)}`,
    );
  }
  return n;
}

function big(code: string, value: unknown, min: bigint, max: bigint): bigint {
  let b: bigint | null = null;
  if (typeof value === 'bigint') b = value;
  else if (typeof value === 'number' && Number.isInteger(value)) b = BigInt(value);
  else if (typeof value === 'string' && /^-?\d+$/.test(value)) b = BigInt(value);
  if (b === null || b < min || b > max)
    throw new TypeError(`expected an integer for '${code}', got ${describe(value)}`);
  return b;
}

/** Below this length a string is copied by a JS loop when it is ASCII: cheaper than a call into `buf.write`. */
const SHORT_STRING = 64;

/**
 * Writes `value` at `at` if it is ASCII without NUL (returns its length); otherwise returns -1,
 * having written part of it, and the caller takes the general path.
 */
function asciiAt(value: string, at: number): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80 || c === 0) return -1;
    buf[at + i] = c;
  }
  return value.length;
}

function str(code: string, value: unknown): void {
  if (typeof value !== 'string') throw new TypeError(`expected a string for '${code}', got ${describe(value)}`);
  if (code === 'o' && !isObjectPath(value)) throw new TypeError(`'${value}' is not a valid object path`);
  pad(4);
  ensure(4 + value.length * 3 + 1);
  let n = value.length <= SHORT_STRING ? asciiAt(value, off + 4) : -1;
  if (n < 0) {
    if (value.includes('\0')) throw new TypeError(`a D-Bus string cannot contain NUL`);
    n = buf.write(value, off + 4, 'utf8');
  }
  put32(n, off);
  off += 4 + n;
  buf[off++] = 0;
}

/** Writes a signature's length byte, bytes and NUL (its syntax checked by the caller; ASCII by it). */
function putSig(value: string): void {
  ensure(value.length + 2);
  buf[off++] = value.length;
  for (let i = 0; i < value.length; i++) buf[off++] = value.charCodeAt(i);
  buf[off++] = 0;
}

function sig(value: unknown): void {
  if (typeof value !== 'string') throw new TypeError(`expected a signature string for 'g', got ${describe(value)}`);
  parseSignature(value);
  putSig(value);
}

function entries(value: unknown, what: string): Iterable<[unknown, unknown]> {
  if (value instanceof Map) return value as Map<unknown, unknown>;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && !ArrayBuffer.isView(value))
    return Object.entries(value);
  throw new TypeError(`expected a dict for '${what}', got ${describe(value)}`);
}

function isPlainDict(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) return false;
  return !(value instanceof Map);
}

function dictKey(code: string, key: unknown): unknown {
  if (typeof key !== 'string') return key;
  // Object keys are strings; numeric key types take them back.
  switch (code) {
    case 's':
    case 'o':
    case 'g':
    case 'x':
    case 't':
      return key;
    case 'b':
      return key === 'true';
    default:
      return Number(key);
  }
}

function write(t: TypeNode, value: unknown): void {
  switch (t.code) {
    case 'y':
      ensure(1);
      buf[off++] = int('y', value, 0, 0xff);
      return;
    case 'b':
      if (typeof value !== 'boolean') throw new TypeError(`expected a boolean for 'b', got ${describe(value)}`);
      u32(value ? 1 : 0);
      return;
    case 'n':
    case 'q': {
      const n = t.code === 'n' ? int('n', value, -0x8000, 0x7fff) : int('q', value, 0, 0xffff);
      pad(2);
      ensure(2);
      if (t.code === 'n') off = le ? buf.writeInt16LE(n, off) : buf.writeInt16BE(n, off);
      else off = le ? buf.writeUInt16LE(n, off) : buf.writeUInt16BE(n, off);
      return;
    }
    case 'i': {
      const n = int('i', value, -0x80000000, 0x7fffffff);
      pad(4);
      ensure(4);
      off = le ? buf.writeInt32LE(n, off) : buf.writeInt32BE(n, off);
      return;
    }
    case 'u':
      u32(int('u', value, 0, 0xffffffff));
      return;
    case 'x':
    case 't': {
      const b = t.code === 'x' ? big('x', value, -(2n ** 63n), 2n ** 63n - 1n) : big('t', value, 0n, 2n ** 64n - 1n);
      pad(8);
      ensure(8);
      if (t.code === 'x') off = le ? buf.writeBigInt64LE(b, off) : buf.writeBigInt64BE(b, off);
      else off = le ? buf.writeBigUInt64LE(b, off) : buf.writeBigUInt64BE(b, off);
      return;
    }
    case 'd': {
      const d = typeof value === 'bigint' ? Number(value) : value;
      if (typeof d !== 'number') throw new TypeError(`expected a number for 'd', got ${describe(value)}`);
      pad(8);
      ensure(8);
      off = le ? buf.writeDoubleLE(d, off) : buf.writeDoubleBE(d, off);
      return;
    }
    case 's':
    case 'o':
      str(t.code, value);
      return;
    case 'g':
      sig(value);
      return;
    case 'h':
      throw new TypeError("unix file descriptors ('h') cannot be sent over this connection");
    case 'v': {
      if (
        value === null ||
        typeof value !== 'object' ||
        typeof (value as { signature?: unknown }).signature !== 'string' ||
        !('value' in value)
      ) {
        throw new TypeError(`expected a {signature, value} for 'v', got ${describe(value)}`);
      }
      const v = value as { signature: string; value: unknown };
      const inner = singleType(v.signature);
      // singleType has validated it: write the signature's bytes without parsing it again.
      putSig(v.signature);
      write(inner, v.value);
      return;
    }
    case 'a':
      writeArray(t, value);
      return;
    case '(': {
      if (!Array.isArray(value) || value.length !== t.child.length)
        throw new TypeError(`expected a ${t.child.length}-element array for '${t.sig}'`);
      pad(8);
      for (let i = 0; i < t.child.length; i++) write(t.child[i]!, value[i]);
      return;
    }
    default:
      throw new TypeError(`cannot marshal '${t.code}'`);
  }
}

function writeArray(t: TypeNode, value: unknown): void {
  const elem = t.child[0]!;
  u32(0);
  const lengthAt = off - 4;
  pad(elem.align);
  const start = off;
  if (elem.code === '{') {
    const [kt, vt] = elem.child as [TypeNode, TypeNode];
    if (isPlainDict(value)) {
      // A plain object (how the daemon holds its dicts): no Object.entries pair arrays per entry.
      const dict = value as Record<string, unknown>;
      for (const k in dict) {
        if (!Object.hasOwn(dict, k)) continue;
        pad(8);
        write(kt, dictKey(kt.code, k));
        write(vt, dict[k]);
      }
    } else {
      for (const [k, v] of entries(value, t.sig)) {
        pad(8);
        write(kt, dictKey(kt.code, k));
        write(vt, v);
      }
    }
  } else if (elem.code === 'y' && value instanceof Uint8Array) {
    ensure(value.length);
    buf.set(value, off);
    off += value.length;
  } else {
    if (!Array.isArray(value)) throw new TypeError(`expected an array for '${t.sig}', got ${describe(value)}`);
    for (const v of value) write(elem, v);
  }
  const len = off - start;
  if (len > MAX_ARRAY_LENGTH) throw new RangeError(`array '${t.sig}' longer than ${MAX_ARRAY_LENGTH} bytes`);
  put32(len, lengthAt);
}

function field(code: number, typeCode: 'o' | 's' | 'u' | 'g', value: string | number): void {
  pad(8);
  ensure(4);
  buf[off++] = code;
  buf[off++] = 1;
  buf[off++] = typeCode.charCodeAt(0);
  buf[off++] = 0;
  if (typeCode === 'u') u32(value as number);
  else if (typeCode === 'g') sig(value);
  else str(typeCode, value);
}

function checkHeader(msg: Message): void {
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new TypeError(`cannot send a message with ${what}`);
  };
  switch (msg.type) {
    case MessageType.METHOD_CALL:
      need(msg.path !== '' && msg.member !== '', 'no path or member');
      break;
    case MessageType.SIGNAL:
      need(msg.path !== '' && msg.interface !== '' && msg.member !== '', 'no path, interface or member');
      break;
    case MessageType.ERROR:
      need(msg.errorName !== '' && msg.replySerial > 0, 'no error name or reply serial');
      break;
    case MessageType.METHOD_RETURN:
      need(msg.replySerial > 0, 'no reply serial');
      break;
    default:
      need(false, `type ${msg.type}`);
  }
  if (msg.path !== '') need(isObjectPath(msg.path), `the invalid path '${msg.path}'`);
  if (msg.interface !== '') need(isInterfaceName(msg.interface), `the invalid interface '${msg.interface}'`);
  if (msg.member !== '') need(isMemberName(msg.member), `the invalid member '${msg.member}'`);
  if (msg.errorName !== '') need(isInterfaceName(msg.errorName), `the invalid error name '${msg.errorName}'`);
  if (msg.destination !== '') need(isBusName(msg.destination), `the invalid destination '${msg.destination}'`);
}

/**
 * The little-endian wire bytes of a body alone, as {@link Message.bodyBytes} takes them: a body
 * starts 8-aligned in its message, so its bytes are the same in every message that carries it.
 * Throws a TypeError when a value does not fit `signature`.
 */
export function marshallBody(signature: string, body: readonly unknown[]): Buffer {
  const types = parseSignature(signature);
  if (types.length !== body.length)
    throw new TypeError(`signature '${signature}' wants ${types.length} values, got ${body.length}`);
  off = 0;
  le = true;
  for (let i = 0; i < types.length; i++) write(types[i]!, body[i]);
  if (off > MAX_MESSAGE_LENGTH) throw new RangeError(`D-Bus message longer than ${MAX_MESSAGE_LENGTH} bytes`);
  const out = Buffer.allocUnsafe(off);
  buf.copy(out, 0, 0, off);
  if (buf.length > SCRATCH_KEEP) buf = Buffer.allocUnsafe(SCRATCH_SIZE);
  return out;
}

/**
 * The wire bytes of `msg` with serial `serial` (little-endian unless `bigEndian`). Throws a
 * TypeError when a header field or a body value does not fit.
 */
export function marshallMessage(msg: Message, serial: number, bigEndian = false): Buffer {
  checkHeader(msg);
  const types = parseSignature(msg.signature);
  if (types.length !== msg.body.length)
    throw new TypeError(`signature '${msg.signature}' wants ${types.length} values, got ${msg.body.length}`);
  off = 0;
  le = !bigEndian;
  ensure(16);
  buf[0] = le ? 0x6c : 0x42;
  buf[1] = msg.type;
  buf[2] = msg.flags & 0xff;
  buf[3] = 1;
  off = 16;
  if (msg.path !== '') field(1, 'o', msg.path);
  if (msg.interface !== '') field(2, 's', msg.interface);
  if (msg.member !== '') field(3, 's', msg.member);
  if (msg.errorName !== '') field(4, 's', msg.errorName);
  if (msg.replySerial > 0) field(5, 'u', msg.replySerial);
  if (msg.destination !== '') field(6, 's', msg.destination);
  if (msg.sender !== '') field(7, 's', msg.sender);
  if (msg.signature !== '') field(8, 'g', msg.signature);
  const fieldsLength = off - 16;
  pad(8);
  const bodyStart = off;
  const bytes = msg.bodyBytes;
  if (bytes !== null && le) {
    ensure(bytes.length);
    buf.set(bytes, off);
    off += bytes.length;
  } else {
    for (let i = 0; i < types.length; i++) write(types[i]!, msg.body[i]);
  }
  const bodyLength = off - bodyStart;
  if (off > MAX_MESSAGE_LENGTH) throw new RangeError(`D-Bus message longer than ${MAX_MESSAGE_LENGTH} bytes`);
  put32(bodyLength, 4);
  put32(serial >>> 0, 8);
  put32(fieldsLength, 12);
  const out = Buffer.allocUnsafe(off);
  buf.copy(out, 0, 0, off);
  // One huge message (a GetServices of thousands) must not pin its scratch space for good.
  if (buf.length > SCRATCH_KEEP) buf = Buffer.allocUnsafe(SCRATCH_SIZE);
  return out;
}
