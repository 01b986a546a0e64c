/**
 * rtnetlink messages encoded and decoded by hand: the fixed headers of link, address, route and
 * rule messages (struct ifinfomsg, ifaddrmsg, rtmsg, fib_rule_hdr) and their attributes. Pure,
 * Buffers in and out, no socket (the socket is client.ts), so every layout is unit-tested against
 * bytes the kernel sent.
 *
 * Attributes are kept as raw bytes by type: decoders of records read the few they need, and a
 * delete can echo a dumped message's attributes unchanged (the kernel then matches exactly what
 * it dumped, including attributes this file has no name for).
 */
import { attr, parseAttrs } from '../../netlink/framing.js';
import { RTM } from './constants.js';

// The generic framing, for the rtnetlink modules that build or read messages.
export { attr, frame, parseAttrs, strOf, u8Of, u32, u32Of, walkAttrs } from '../../netlink/framing.js';

/** Attributes by type (nlattr type with the NESTED/BYTEORDER bits cleared), raw payloads. */
export type Attrs = Map<number, Buffer>;

/** struct ifinfomsg and its attributes. */
export interface LinkMessage {
  kind: 'link';
  family: number;
  /** ARPHRD_* */
  type: number;
  index: number;
  /** IFF_* */
  flags: number;
  /** Which IFF_* bits a SETLINK changes. */
  change: number;
  attrs: Attrs;
}

/** struct ifaddrmsg and its attributes. */
export interface AddressMessage {
  kind: 'address';
  family: number;
  prefixLen: number;
  /** The u8 ifa_flags; IFA_FLAGS (u32) supersedes it when present. */
  flags: number;
  scope: number;
  index: number;
  attrs: Attrs;
}

/** struct rtmsg and its attributes. */
export interface RouteMessage {
  kind: 'route';
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** rtm_table is a u8: tables above 255 are in RTA_TABLE (rtm_table then says 252). */
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
  attrs: Attrs;
}

/** struct fib_rule_hdr and its attributes. */
export interface RuleMessage {
  kind: 'rule';
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  action: number;
  flags: number;
  attrs: Attrs;
}

export type RtMessage = LinkMessage | AddressMessage | RouteMessage | RuleMessage;
export type RtKind = RtMessage['kind'];

/** The message kind of an rtnetlink message type (NEW/DEL/GET/SET of one object), or null. */
export function kindOf(type: number): RtKind | null {
  if (type >= RTM.NEWLINK && type <= RTM.SETLINK) return 'link';
  if (type >= RTM.NEWADDR && type <= RTM.GETADDR) return 'address';
  if (type >= RTM.NEWROUTE && type <= RTM.GETROUTE) return 'route';
  if (type >= RTM.NEWRULE && type <= RTM.GETRULE) return 'rule';
  return null;
}

const HEADER_LEN: Readonly<Record<RtKind, number>> = { link: 16, address: 8, route: 12, rule: 12 };

/**
 * Decodes the payload (after the 16-byte nlmsghdr) of an rtnetlink message of type `nlType`;
 * null for other types and for payloads shorter than their fixed header.
 */
export function decodeMessage(nlType: number, payload: Buffer): RtMessage | null {
  const kind = kindOf(nlType);
  if (!kind || payload.length < HEADER_LEN[kind]) return null;
  const p = payload;
  const attrs = parseAttrs(p.subarray(HEADER_LEN[kind]));
  switch (kind) {
    case 'link':
      return {
        kind,
        family: p[0]!,
        type: p.readUInt16LE(2),
        index: p.readInt32LE(4),
        flags: p.readUInt32LE(8),
        change: p.readUInt32LE(12),
        attrs,
      };
    case 'address':
      return { kind, family: p[0]!, prefixLen: p[1]!, flags: p[2]!, scope: p[3]!, index: p.readUInt32LE(4), attrs };
    case 'route':
      return {
        kind,
        family: p[0]!,
        dstLen: p[1]!,
        srcLen: p[2]!,
        tos: p[3]!,
        table: p[4]!,
        protocol: p[5]!,
        scope: p[6]!,
        type: p[7]!,
        flags: p.readUInt32LE(8),
        attrs,
      };
    case 'rule':
      // p[5], p[6]: res1, res2.
      return {
        kind,
        family: p[0]!,
        dstLen: p[1]!,
        srcLen: p[2]!,
        tos: p[3]!,
        table: p[4]!,
        action: p[7]!,
        flags: p.readUInt32LE(8),
        attrs,
      };
  }
}

/** Encodes a message's fixed header and attributes (the nlmsghdr is {@link frame}'s). */
export function encodeMessage(m: RtMessage): Buffer {
  const h = Buffer.alloc(HEADER_LEN[m.kind]);
  switch (m.kind) {
    case 'link':
      h[0] = m.family;
      h.writeUInt16LE(m.type, 2);
      h.writeInt32LE(m.index, 4);
      h.writeUInt32LE(m.flags >>> 0, 8);
      h.writeUInt32LE(m.change >>> 0, 12);
      break;
    case 'address':
      h.set([m.family, m.prefixLen, m.flags, m.scope]);
      h.writeUInt32LE(m.index, 4);
      break;
    case 'route':
      h.set([m.family, m.dstLen, m.srcLen, m.tos, m.table, m.protocol, m.scope, m.type]);
      h.writeUInt32LE(m.flags >>> 0, 8);
      break;
    case 'rule':
      h.set([m.family, m.dstLen, m.srcLen, m.tos, m.table, 0, 0, m.action]);
      h.writeUInt32LE(m.flags >>> 0, 8);
      break;
  }
  return Buffer.concat([h, ...[...m.attrs].map(([t, v]) => attr(t, v))]);
}

/** An empty message of `kind` (all header fields 0, no attributes): a dump request's body. */
export function emptyMessage(kind: RtKind): RtMessage {
  const attrs: Attrs = new Map();
  switch (kind) {
    case 'link':
      return { kind, family: 0, type: 0, index: 0, flags: 0, change: 0, attrs };
    case 'address':
      return { kind, family: 0, prefixLen: 0, flags: 0, scope: 0, index: 0, attrs };
    case 'route':
      return {
        kind,
        family: 0,
        dstLen: 0,
        srcLen: 0,
        tos: 0,
        table: 0,
        protocol: 0,
        scope: 0,
        type: 0,
        flags: 0,
        attrs,
      };
    case 'rule':
      return { kind, family: 0, dstLen: 0, srcLen: 0, tos: 0, table: 0, action: 0, flags: 0, attrs };
  }
}
