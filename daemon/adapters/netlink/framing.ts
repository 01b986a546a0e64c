/**
 * Netlink framing shared by every protocol: the message header (struct nlmsghdr) and attributes
 * (struct nlattr: u16 length, u16 type, payload, padded to 4 bytes; host byte order). Pure.
 */

/** Bit of an attribute type: a nest of attributes. Masked off by the readers, with BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;

/**
 * Stores `v` as a host-order (little-endian) u16 at `at`. Byte by byte: Buffer#writeUInt16LE and
 * its kin pay Node's own argument checks, which run unoptimized in the daemon (--no-opt).
 */
export function putU16(b: Uint8Array, v: number, at: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

/** Stores `v` as a host-order (little-endian) u32 at `at` (see {@link putU16}). */
export function putU32(b: Uint8Array, v: number, at: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/**
 * One attribute, padded to 4 bytes. @throws RangeError past the u16 length.
 * Buffers here come from Node's pool (`allocUnsafe`, every byte written): a zero-filled
 * `Buffer.alloc` is a fresh backing store per attribute, and a session's batch has dozens.
 */
export function attr(type: number, payload: Uint8Array): Buffer {
  const len = 4 + payload.length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} of ${len} bytes exceeds 65535`);
  const padded = (len + 3) & ~3;
  const b = Buffer.allocUnsafe(padded);
  putU16(b, len, 0);
  putU16(b, type, 2);
  b.set(payload, 4);
  if (padded > len) b.fill(0, len, padded);
  return b;
}

/** A u32 attribute payload (host order). */
export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  putU32(b, n >>> 0, 0);
  return b;
}

/** Walks the attributes packed in `b[start, end)`; stops at a malformed one. */
export function* walkAttrs(b: Buffer, start = 0, end = b.length): Generator<{ type: number; data: Buffer }> {
  for (let off = start; off + 4 <= end; ) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > end) return;
    yield { type: b.readUInt16LE(off + 2) & NLA_TYPE_MASK, data: b.subarray(off + 4, off + len) };
    off += (len + 3) & ~3;
  }
}

/** The attributes packed in `b[start, end)` by type (a repeated type keeps its last value). */
export function parseAttrs(b: Buffer, start = 0, end = b.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const a of walkAttrs(b, start, end)) out.set(a.type, a.data);
  return out;
}

/** A u32 attribute's value, or undefined when absent or short. */
export function u32Of(attrs: ReadonlyMap<number, Buffer>, type: number): number | undefined {
  const b = attrs.get(type);
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

/** A u8 attribute's value, or undefined when absent. */
export function u8Of(attrs: ReadonlyMap<number, Buffer>, type: number): number | undefined {
  const b = attrs.get(type);
  return b && b.length >= 1 ? b[0] : undefined;
}

/** A NUL-terminated string attribute's value, or undefined when absent. */
export function strOf(attrs: ReadonlyMap<number, Buffer>, type: number): string | undefined {
  const b = attrs.get(type);
  if (!b) return undefined;
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end >= 0 ? end : b.length);
}

/** One netlink message: nlmsghdr (length, type, flags, seq, port 0) and `payload`, padded. */
export function frame(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const len = 16 + payload.length;
  const padded = (len + 3) & ~3;
  const b = Buffer.allocUnsafe(padded);
  putU32(b, len, 0);
  putU16(b, type, 4);
  putU16(b, flags, 6);
  putU32(b, seq >>> 0, 8);
  putU32(b, 0, 12);
  payload.copy(b, 16);
  if (padded > len) b.fill(0, len, padded);
  return b;
}
