/**
 * nf_tables counter objects over netlink: add, delete, get (or get-and-reset) one, dump all, and
 * decode what the kernel reports. Pure; the message primitives are netlink-encode.ts.
 */
import {
  attr,
  be32Attr,
  type Command,
  cstr,
  MSG,
  message,
  NFPROTO_INET,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  nameAttr,
  nest,
  nftType,
  parseAttrs,
  strAttr,
} from './netlink-encode.js';

const NFT_OBJECT_COUNTER = 1;
const OBJ = { TABLE: 1, NAME: 2, TYPE: 3, DATA: 4 } as const;
const COUNTER = { BYTES: 1, PACKETS: 2 } as const;

export function addCounter(table: string, name: string): Command {
  const zero = Buffer.alloc(8);
  return {
    type: MSG.NEWOBJ,
    flags: NLM_F_CREATE,
    attrs: [
      nameAttr(OBJ.TABLE, table),
      strAttr(OBJ.NAME, name),
      be32Attr(OBJ.TYPE, NFT_OBJECT_COUNTER),
      nest(OBJ.DATA, [attr(COUNTER.BYTES, zero), attr(COUNTER.PACKETS, zero)]),
    ],
  };
}

export function deleteCounter(table: string, name: string): Command {
  return {
    type: MSG.DELOBJ,
    flags: 0,
    attrs: [nameAttr(OBJ.TABLE, table), strAttr(OBJ.NAME, name), be32Attr(OBJ.TYPE, NFT_OBJECT_COUNTER)],
  };
}

/** GETOBJ (or GETOBJ_RESET) of one counter: a plain request, answered by NEWOBJ then the ACK. */
export function getCounter(table: string, name: string, seq: number, reset = false): Buffer {
  return message(nftType(reset ? MSG.GETOBJ_RESET : MSG.GETOBJ), NLM_F_REQUEST | NLM_F_ACK, seq, NFPROTO_INET, [
    nameAttr(OBJ.TABLE, table),
    strAttr(OBJ.NAME, name),
    be32Attr(OBJ.TYPE, NFT_OBJECT_COUNTER),
  ]);
}

/** A dump of every counter of `table` (filtered by the kernel), ended by NLMSG_DONE. */
export function dumpCounters(table: string, seq: number): Buffer {
  return message(nftType(MSG.GETOBJ), NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO_INET, [
    nameAttr(OBJ.TABLE, table),
    be32Attr(OBJ.TYPE, NFT_OBJECT_COUNTER),
  ]);
}

/** A counter as the kernel reported it. */
export interface CounterValue {
  table: string;
  name: string;
  packets: bigint;
  bytes: bigint;
}

/** Is this a NEWOBJ reply (of GETOBJ, GETOBJ_RESET or a dump)? */
export function isNewObj(type: number): boolean {
  return type === nftType(MSG.NEWOBJ);
}

/** Decodes a NEWOBJ payload (nfgenmsg + attributes); null for objects that are not counters. */
export function parseCounter(payload: Buffer): CounterValue | null {
  const a = parseAttrs(payload, 4);
  const type = a.get(OBJ.TYPE);
  if (!type || type.length < 4 || type.readUInt32BE(0) !== NFT_OBJECT_COUNTER) return null;
  const data = a.get(OBJ.DATA);
  const d = data ? parseAttrs(data) : new Map<number, Buffer>();
  const u64 = (b: Buffer | undefined): bigint => (b && b.length >= 8 ? b.readBigUInt64BE(0) : 0n);
  return {
    table: cstr(a.get(OBJ.TABLE)) ?? '',
    name: cstr(a.get(OBJ.NAME)) ?? '',
    packets: u64(d.get(COUNTER.PACKETS)),
    bytes: u64(d.get(COUNTER.BYTES)),
  };
}
