/**
 * nf_tables' attribute shapes (the framing is netlink/framing.ts): nests, strings, big-endian
 * u32s and host-order register values. Pure. Every builder allocates once per attribute: the
 * daemon runs them at baseline-compiler speed (no optimizing compiler, daemon/main.ts), where a
 * `Buffer.concat` plus an `attr()` copy per nest cost more than the bytes they move; names that
 * recur in every batch (a table's, its maps' and chains') are built once.
 */
import { BoundedMap } from '../../core/bounded-map.js';
import { putU16, putU32 } from '../netlink/framing.js';

const NLA_F_NESTED = 0x8000;

/** A nest of `children` (each a padded attribute): one buffer, the children copied in once. */
export function nest(type: number, children: readonly Buffer[]): Buffer {
  let len = 4;
  for (let i = 0; i < children.length; i++) len += (children[i] as Buffer).length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} of ${len} bytes exceeds 65535`);
  const b = Buffer.allocUnsafe(len);
  putU16(b, len, 0);
  putU16(b, type | NLA_F_NESTED, 2);
  let at = 4;
  for (let i = 0; i < children.length; i++) {
    const c = children[i] as Buffer;
    b.set(c, at);
    at += c.length;
  }
  return b;
}

/** A NUL-terminated string attribute, written in place (one allocation). */
export function strAttr(type: number, s: string): Buffer {
  let ascii = true;
  for (let i = 0; i < s.length && ascii; i++) ascii = s.charCodeAt(i) < 0x80;
  const n = ascii ? s.length : Buffer.byteLength(s, 'utf8');
  const len = 4 + n + 1;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} of ${len} bytes exceeds 65535`);
  const padded = (len + 3) & ~3;
  const b = Buffer.allocUnsafe(padded);
  putU16(b, len, 0);
  putU16(b, type, 2);
  if (ascii) for (let i = 0; i < n; i++) b[4 + i] = s.charCodeAt(i);
  else b.write(s, 4, n, 'utf8');
  for (let i = 4 + n; i < padded; i++) b[i] = 0;
  return b;
}

/** Name attributes remembered: a table's, its maps' and chains' names recur in every batch. */
const names = new BoundedMap<string, Buffer>(256);

/**
 * {@link strAttr} for a name that recurs (a table, map, chain or expression name, never a
 * per-session one). The buffer is shared: callers only ever copy attributes.
 */
export function nameAttr(type: number, s: string): Buffer {
  const key = `${type}\0${s}`;
  return names.get(key) ?? names.set(key, strAttr(type, s));
}

export function be32Attr(type: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  putU16(b, 8, 0);
  putU16(b, type, 2);
  const v = n >>> 0;
  b[4] = v >>> 24;
  b[5] = (v >>> 16) & 0xff;
  b[6] = (v >>> 8) & 0xff;
  b[7] = v & 0xff;
  return b;
}

/** A 32-bit register value in host order (uid, gid, mark): what NFTA_DATA_VALUE holds for them. */
export function hostU32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  putU32(b, n >>> 0, 0);
  return b;
}

/** A NUL-terminated string attribute's text. */
export function cstr(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : b.toString('utf8').replace(/\0+$/, '');
}
