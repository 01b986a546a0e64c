/**
 * nf_tables netlink messages, encoded and decoded by hand. Pure (Buffers in, Buffers out).
 *
 * Only what the session path needs (counter objects are netlink-counters.ts): regular chains
 * (add, delete, flush), the one rule of a service chain, and map elements (uid/gid/mark keys in
 * host order, addresses in network order; marks, `jump` verdicts or counter references as data). Layouts follow uapi nf_tables.h / nfnetlink.h and are what nft 1.0.6
 * itself sends (checked with `nft --debug=netlink`; research nftables-netlink.md):
 * - nlmsghdr and nlattr headers are host order; every nf_tables scalar attribute is big-endian;
 *   NFTA_DATA_VALUE holds raw register bytes (host order for uid/gid/mark, network order for
 *   addresses).
 * - Batches are BATCH_BEGIN, the commands, BATCH_END, sent in one sendmsg; only the last command
 *   asks for an ACK (errors are reported anyway), so a large batch cannot overrun the receive queue.
 * - A nest's length is a u16: element lists are split into several messages of one batch.
 */

import { BoundedMap } from '../../core/bounded-map.js';
import { attr, parseAttrs, putU16, putU32 } from '../netlink/framing.js';
import { be32Attr, hostU32, nameAttr, nest, strAttr } from './netlink-attrs.js';

export { be32Attr, cstr, hostU32, nameAttr, nest, strAttr } from './netlink-attrs.js';
export { attr, parseAttrs };

export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 16;
export const NFNL_MSG_BATCH_END = 17;
export const NFPROTO_INET = 1;

export const MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  DELCHAIN: 5,
  NEWRULE: 6,
  DELRULE: 8,
  NEWSET: 9,
  DELSET: 11,
  NEWSETELEM: 12,
  DELSETELEM: 14,
  NEWGEN: 15,
  GETGEN: 16,
  NEWOBJ: 18,
  GETOBJ: 19,
  DELOBJ: 20,
  GETOBJ_RESET: 21,
} as const;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;

const NFT_JUMP = -3;
const NFT_REG_1 = 1;
const NFT_META_MARK = 3;
/** libnftnl's user-data TLV type of a rule comment. */
const NFTNL_UDATA_RULE_COMMENT = 0;
/** Elements per NEWSETELEM/DELSETELEM message: keeps the list nest under 64 KiB. */
export const ELEMENTS_PER_MESSAGE = 1000;

// ---------------------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------------------

/** Writes nlmsghdr + nfgenmsg of a message of `len` bytes at `at`. */
function putHeader(
  b: Buffer,
  at: number,
  len: number,
  type: number,
  flags: number,
  seq: number,
  family: number,
  resId: number,
): void {
  putU32(b, len, at);
  putU16(b, type, at + 4);
  putU16(b, flags, at + 6);
  putU32(b, seq >>> 0, at + 8);
  putU32(b, 0, at + 12);
  b[at + 16] = family & 0xff;
  b[at + 17] = 0;
  b[at + 18] = (resId >>> 8) & 0xff;
  b[at + 19] = resId & 0xff;
}

/** Copies the (padded) attributes into `b` from `at`; returns where they end. */
function putAttrs(b: Buffer, at: number, attrs: readonly Buffer[]): number {
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i] as Buffer;
    b.set(a, at);
    at += a.length;
  }
  return at;
}

function attrsLength(attrs: readonly Buffer[]): number {
  let n = 0;
  for (let i = 0; i < attrs.length; i++) n += (attrs[i] as Buffer).length;
  return n;
}

/** nlmsghdr + nfgenmsg + attributes. */
export function message(
  type: number,
  flags: number,
  seq: number,
  family: number,
  attrs: readonly Buffer[],
  resId = 0,
): Buffer {
  // Every byte is written below (the attributes are padded already).
  const b = Buffer.allocUnsafe(20 + attrsLength(attrs));
  putHeader(b, 0, b.length, type, flags, seq, family, resId);
  putAttrs(b, 20, attrs);
  return b;
}

/** The nlmsghdr type of an nf_tables message. */
export function nftType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

/** One command of a batch, before sequence numbers are given. */
export interface Command {
  type: number;
  flags: number;
  attrs: Buffer[];
}

/** A batch ready to send, and the sequence numbers that tell its outcome. */
export interface EncodedBatch {
  buf: Buffer;
  beginSeq: number;
  /** Sequence number of each command, in order (the last one carries NLM_F_ACK). */
  seqs: number[];
}

/**
 * BEGIN, the commands (family inet), END; each with its own sequence number from `nextSeq`.
 * Only the last command asks for an ACK.
 */
export function encodeBatch(commands: readonly Command[], nextSeq: () => number): EncodedBatch {
  // One buffer for the whole batch, every byte written: BEGIN and END are 20 bytes each.
  let size = 40;
  for (let i = 0; i < commands.length; i++) size += 20 + attrsLength((commands[i] as Command).attrs);
  const buf = Buffer.allocUnsafe(size);
  const beginSeq = nextSeq();
  putHeader(buf, 0, 20, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, beginSeq, 0, NFNL_SUBSYS_NFTABLES);
  let at = 20;
  const seqs: number[] = [];
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i] as Command;
    const seq = nextSeq();
    seqs.push(seq);
    const ack = i === commands.length - 1 ? NLM_F_ACK : 0;
    const len = 20 + attrsLength(c.attrs);
    putHeader(buf, at, len, nftType(c.type), NLM_F_REQUEST | c.flags | ack, seq, NFPROTO_INET, 0);
    at = putAttrs(buf, at + 20, c.attrs);
  }
  putHeader(buf, at, 20, NFNL_MSG_BATCH_END, NLM_F_REQUEST, nextSeq(), 0, NFNL_SUBSYS_NFTABLES);
  return { buf, beginSeq, seqs };
}

// --- chains and the session rule --------------------------------------------------------------

const CHAIN = { TABLE: 1, NAME: 3 } as const;
const RULE = { TABLE: 1, CHAIN: 2, EXPRESSIONS: 4, USERDATA: 7 } as const;
const LIST_ELEM = 1;
const EXPR = { NAME: 1, DATA: 2 } as const;
const DATA = { VALUE: 1, VERDICT: 2 } as const;
const VERDICT = { CODE: 1, CHAIN: 2 } as const;

export function addChain(table: string, name: string): Command {
  return { type: MSG.NEWCHAIN, flags: NLM_F_CREATE, attrs: [nameAttr(CHAIN.TABLE, table), nameAttr(CHAIN.NAME, name)] };
}

/** DELCHAIN also removes the chain's rules. */
export function deleteChain(table: string, name: string): Command {
  return { type: MSG.DELCHAIN, flags: 0, attrs: [nameAttr(CHAIN.TABLE, table), nameAttr(CHAIN.NAME, name)] };
}

/** DELRULE naming only the chain: every rule of the chain (nft's `flush chain`). */
export function flushChain(table: string, name: string): Command {
  return { type: MSG.DELRULE, flags: 0, attrs: [nameAttr(RULE.TABLE, table), nameAttr(RULE.CHAIN, name)] };
}

export function expr(name: string, data: Buffer[]): Buffer {
  return nest(LIST_ELEM, [nameAttr(EXPR.NAME, name), nest(EXPR.DATA, data)]);
}

/** Expressions that recur unchanged in every rule, built once (attributes are only ever copied). */
const fixed = new BoundedMap<string, Buffer>(256);

function fixedExpr(key: string, build: () => Buffer): Buffer {
  return fixed.get(key) ?? fixed.set(key, build());
}

export function metaLoadMark(): Buffer {
  return fixedExpr('meta load mark', () => expr('meta', [be32Attr(2, NFT_META_MARK), be32Attr(1, NFT_REG_1)]));
}

/** A rule comment as nft stores it: libnftnl user data, one TLV (type, length, NUL-terminated text). */
export function commentUserdata(comment: string): Buffer {
  const text = Buffer.from(`${comment}\0`, 'utf8');
  if (text.length > 255) throw new RangeError('rule comment longer than 254 bytes');
  return Buffer.concat([Buffer.from([NFTNL_UDATA_RULE_COMMENT, text.length]), text]);
}

/** NEWRULE appending `expressions` to `chain`, with its fingerprint comment as userdata. */
export function appendRule(table: string, chain: string, comment: string, expressions: Buffer[]): Command {
  return {
    type: MSG.NEWRULE,
    flags: NLM_F_CREATE | NLM_F_APPEND,
    attrs: [
      nameAttr(RULE.TABLE, table),
      nameAttr(RULE.CHAIN, chain),
      nest(RULE.EXPRESSIONS, expressions),
      attr(RULE.USERDATA, commentUserdata(comment)),
    ],
  };
}

/** `register 1 = (register 1 & mask) ^ xor` over the 4-byte mark, as nft encodes `and`/`or`. */
export function markBitwise(mask: number, xor: number): Buffer {
  return expr('bitwise', [
    be32Attr(1, NFT_REG_1),
    be32Attr(2, NFT_REG_1),
    be32Attr(6, 0), // NFTA_BITWISE_OP = NFT_BITWISE_BOOL, as nft sends it
    be32Attr(3, 4),
    nest(4, [attr(DATA.VALUE, hostU32(mask))]),
    nest(5, [attr(DATA.VALUE, hostU32(xor))]),
  ]);
}

/**
 * The service chain's rule `meta mark set meta mark and ~ours or mark` (ruleset.ts serviceRule),
 * with its fingerprint comment: meta load → bitwise (mask = ~ours & ~mark, xor = mark) → meta set.
 */
export function addServiceRule(table: string, chain: string, ours: number, mark: number, comment: string): Command {
  const mask = (~ours & ~mark) >>> 0;
  return appendRule(table, chain, comment, [
    metaLoadMark(),
    markBitwise(mask, mark),
    fixedExpr('meta set mark', () => expr('meta', [be32Attr(2, NFT_META_MARK), be32Attr(3, NFT_REG_1)])),
  ]);
}

const NFT_META_OIFNAME = 7;
const NFT_FIB_RESULT_ADDRTYPE = 3;
const NFTA_FIB_F_SADDR = 1;
const RTN_LOCAL = 2;
const NFT_NAT_SNAT = 0;
const NFPROTO_IPV4 = 2;
const NFPROTO_IPV6 = 10;

function cmpEq(data: Buffer): Buffer {
  return expr('cmp', [be32Attr(1, NFT_REG_1), be32Attr(2, 0), nest(3, [attr(DATA.VALUE, data)])]);
}

/**
 * The SNAT rule of one service and family (ruleset.ts snatRule):
 * `meta mark and MASK == MARK oifname "IF" fib saddr type local snat ip|ip6 to ADDR`, with its
 * fingerprint comment: meta load mark → bitwise and → cmp; meta load oifname → cmp (16 bytes, NUL
 * padded); fib saddr type → cmp local; immediate address → nat snat.
 */
export function addSnatRule(
  table: string,
  chain: string,
  mask: number,
  mark: number,
  ifname: string,
  family: 4 | 6,
  address: Buffer,
  comment: string,
): Command {
  return appendRule(table, chain, comment, [
    metaLoadMark(),
    markBitwise(mask, 0),
    cmpEq(hostU32(mark)),
    fixedExpr('meta load oifname', () => expr('meta', [be32Attr(2, NFT_META_OIFNAME), be32Attr(1, NFT_REG_1)])),
    fixedExpr(`oifname ${ifname}`, () => {
      const name = Buffer.alloc(16);
      name.write(ifname, 'utf8');
      return cmpEq(name);
    }),
    fixedExpr('fib saddr type', () =>
      expr('fib', [be32Attr(3, NFTA_FIB_F_SADDR), be32Attr(2, NFT_FIB_RESULT_ADDRTYPE), be32Attr(1, NFT_REG_1)]),
    ),
    fixedExpr('cmp local', () => {
      const local = Buffer.alloc(4);
      local.writeUInt32LE(RTN_LOCAL);
      return cmpEq(local);
    }),
    expr('immediate', [be32Attr(1, NFT_REG_1), nest(2, [attr(DATA.VALUE, address)])]),
    fixedExpr(`snat ${family}`, () =>
      expr('nat', [
        be32Attr(1, NFT_NAT_SNAT),
        be32Attr(2, family === 4 ? NFPROTO_IPV4 : NFPROTO_IPV6),
        be32Attr(3, NFT_REG_1),
      ]),
    ),
  ]);
}

// --- map elements ------------------------------------------------------------------------------

const ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const;
const ELEM = { KEY: 1, DATA: 2, USERDATA: 6, OBJREF: 9 } as const;

/** An element's data: a `jump` to a chain (verdict maps), a named counter (objref maps) or a mark (data maps). */
export type ElementData = { jump: string } | { counter: string } | { mark: number };

export interface ElementSpec {
  /** Raw key bytes (see the module comment for byte order). */
  key: Buffer;
  data: ElementData;
  /** Stored as the element's user data, as nft stores `comment "..."`. */
  comment?: string;
}

/** One element; `n` numbers the element's nest inside its message, as libnftnl does (the kernel ignores it). */
function elementAttrs(e: ElementSpec, n: number): Buffer {
  const parts = [nest(ELEM.KEY, [attr(DATA.VALUE, e.key)])];
  if ('jump' in e.data) {
    const jump = e.data.jump;
    parts.push(
      fixedExpr(`jump ${jump}`, () => {
        const code = Buffer.alloc(4);
        code.writeInt32BE(NFT_JUMP);
        return nest(ELEM.DATA, [nest(DATA.VERDICT, [attr(VERDICT.CODE, code), strAttr(VERDICT.CHAIN, jump)])]);
      }),
    );
  } else if ('mark' in e.data) {
    parts.push(nest(ELEM.DATA, [attr(DATA.VALUE, hostU32(e.data.mark))]));
  } else {
    parts.push(strAttr(ELEM.OBJREF, e.data.counter));
  }
  if (e.comment !== undefined) parts.push(attr(ELEM.USERDATA, commentUserdata(e.comment)));
  return nest(n + 1, parts);
}

function chunked<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += ELEMENTS_PER_MESSAGE) out.push(xs.slice(i, i + ELEMENTS_PER_MESSAGE));
  return out;
}

/** NEWSETELEM messages for `elements` (CREATE without EXCL: re-adding an identical element is a no-op). */
export function addElements(table: string, map: string, elements: readonly ElementSpec[], setId?: number): Command[] {
  const head = [nameAttr(ELEM_LIST.TABLE, table), nameAttr(ELEM_LIST.SET, map)];
  // A map created in the same batch is named by its batch id too, as nft does.
  if (setId !== undefined) head.push(be32Attr(ELEM_LIST.SET_ID, setId));
  return chunked(elements).map((es) => ({
    type: MSG.NEWSETELEM,
    flags: NLM_F_CREATE,
    attrs: [...head, nest(ELEM_LIST.ELEMENTS, es.map(elementAttrs))],
  }));
}

/** DELSETELEM messages: keys only. */
export function deleteElements(table: string, map: string, keys: readonly Buffer[]): Command[] {
  return chunked(keys).map((ks) => ({
    type: MSG.DELSETELEM,
    flags: 0,
    attrs: [
      nameAttr(ELEM_LIST.TABLE, table),
      nameAttr(ELEM_LIST.SET, map),
      nest(
        ELEM_LIST.ELEMENTS,
        ks.map((k) => nest(LIST_ELEM, [nest(ELEM.KEY, [attr(DATA.VALUE, k)])])),
      ),
    ],
  }));
}
