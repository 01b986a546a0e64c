/**
 * DHCPv4 messages (RFC 2131, options RFC 2132) inside IPv4/UDP datagrams, as the packet socket
 * sends and receives them. Pure: encode what the client sends, decode and validate what it
 * receives. Everything decoded comes from the network, so every length and field is checked and
 * anything malformed is rejected with a reason instead of being half-read.
 */
import { prefixOfNetmask } from './hook-records.js';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const MAGIC_COOKIE = 0x63825363;
/** Fixed BOOTP part (236 bytes) plus the cookie. */
const BOOTP_FIXED = 240;
/** Some servers ignore BOOTP messages shorter than the original 300 bytes. */
const BOOTP_MIN = 300;
const IP_HEADER = 20;
const UDP_HEADER = 8;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const OPT = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS: 6,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_LIST: 55,
  MAX_SIZE: 57,
  T1: 58,
  T2: 59,
  CLIENT_ID: 61,
  END: 255,
} as const;

/** What the client asks servers for (option 55). */
const PARAMETERS = [OPT.SUBNET_MASK, OPT.ROUTER, OPT.DNS, OPT.LEASE_TIME, OPT.SERVER_ID, OPT.T1, OPT.T2];

/** A message the client sends. Addresses are dotted quads; absent ones are 0.0.0.0. */
export interface ClientMessage {
  type: MessageType;
  xid: number;
  mac: Buffer;
  /** Seconds since the exchange began (`secs`). */
  secs?: number;
  /** Our address, only when we hold it (renewing, rebinding, release). */
  ciaddr?: string;
  /** Option 50. */
  requestedIp?: string;
  /** Option 54. */
  serverId?: string;
  /** Ask for broadcast replies (we cannot receive unicast before the address is configured). */
  broadcast?: boolean;
}

/** A server's reply as the client uses it. */
export interface ServerMessage {
  type: MessageType;
  xid: number;
  chaddr: Buffer;
  /** The offered or acknowledged address. */
  yiaddr: string;
  /** Option 54, or the IP source address when the server sent none. */
  serverId: string;
  /** Option 1 as a prefix length, or null when absent. */
  prefixLength: number | null;
  routers: string[];
  dns: string[];
  /** Seconds (option 51), or null when absent. */
  leaseSeconds: number | null;
  t1: number | null;
  t2: number | null;
}

// ------------------------------------------------------------------ addresses and checksums

export function ipv4ToInt(a: string): number {
  const parts = a.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${a}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${a}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 1071 one's-complement sum, folded, not yet inverted. */
function sum16(buf: Buffer, start: number, end: number, initial = 0): number {
  let s = initial;
  for (let i = start; i + 1 < end; i += 2) s += buf.readUInt16BE(i);
  if ((end - start) % 2 === 1) s += (buf[end - 1] ?? 0) << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function udpPseudoSum(src: number, dst: number, udpLength: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + udpLength;
}

// ------------------------------------------------------------------ encode

/** The BOOTP payload of a client message. */
export function encodeDhcp(m: ClientMessage): Buffer {
  const opts: number[] = [OPT.MESSAGE_TYPE, 1, m.type];
  const addr = (code: number, a: string) => {
    const n = ipv4ToInt(a);
    opts.push(code, 4, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  };
  // Client identifier: hardware type 1 and the MAC, as ConnMan and udhcpc send it.
  opts.push(OPT.CLIENT_ID, 7, 1, ...m.mac);
  if (m.requestedIp) addr(OPT.REQUESTED_IP, m.requestedIp);
  if (m.serverId) addr(OPT.SERVER_ID, m.serverId);
  if (m.type !== MessageType.RELEASE && m.type !== MessageType.DECLINE) {
    opts.push(OPT.MAX_SIZE, 2, 0x05, 0xdc); // 1500
    opts.push(OPT.PARAMETER_LIST, PARAMETERS.length, ...PARAMETERS);
  }
  opts.push(OPT.END);
  const buf = Buffer.alloc(Math.max(BOOTP_MIN, BOOTP_FIXED + opts.length));
  buf[0] = 1; // BOOTREQUEST
  buf[1] = 1; // Ethernet
  buf[2] = 6;
  buf.writeUInt32BE(m.xid >>> 0, 4);
  buf.writeUInt16BE(Math.min(0xffff, Math.max(0, Math.floor(m.secs ?? 0))), 8);
  buf.writeUInt16BE(m.broadcast ? 0x8000 : 0, 10);
  buf.writeUInt32BE(ipv4ToInt(m.ciaddr ?? '0.0.0.0'), 12);
  m.mac.copy(buf, 28, 0, 6);
  buf.writeUInt32BE(MAGIC_COOKIE, 236);
  Buffer.from(opts).copy(buf, BOOTP_FIXED);
  return buf;
}

/** Wraps a BOOTP payload in UDP (68 → 67) and IPv4 headers, checksums filled in. */
export function encodeIpUdp(payload: Buffer, src: string, dst: string): Buffer {
  const s = ipv4ToInt(src);
  const d = ipv4ToInt(dst);
  const udpLength = UDP_HEADER + payload.length;
  const buf = Buffer.alloc(IP_HEADER + udpLength);
  buf[0] = 0x45;
  buf.writeUInt16BE(buf.length, 2);
  buf[8] = 64; // TTL
  buf[9] = 17; // UDP
  buf.writeUInt32BE(s, 12);
  buf.writeUInt32BE(d, 16);
  buf.writeUInt16BE(~sum16(buf, 0, IP_HEADER) & 0xffff, 10);
  buf.writeUInt16BE(DHCP_CLIENT_PORT, 20);
  buf.writeUInt16BE(DHCP_SERVER_PORT, 22);
  buf.writeUInt16BE(udpLength, 24);
  payload.copy(buf, IP_HEADER + UDP_HEADER);
  const c = ~sum16(buf, IP_HEADER, buf.length, udpPseudoSum(s, d, udpLength)) & 0xffff;
  // 0 means "no checksum" in UDP; a computed 0 is sent as all ones.
  buf.writeUInt16BE(c === 0 ? 0xffff : c, 26);
  return buf;
}

// ------------------------------------------------------------------ decode

/** Why a datagram was not accepted (for the debug log and the tests). */
export class MalformedPacket extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'MalformedPacket';
  }
}

/**
 * The UDP payload of an IPv4 datagram to port 68, with its source address; checks both headers.
 * `checksumReady: false` (the kernel says a local sender's offload has not filled the UDP
 * checksum in yet) skips only the UDP checksum: such a datagram never crossed a wire.
 */
export function decodeIpUdp(ip: Buffer, opts: { checksumReady?: boolean } = {}): { src: string; payload: Buffer } {
  if (ip.length < IP_HEADER + UDP_HEADER) throw new MalformedPacket('shorter than IP and UDP headers');
  if (ip[0]! >> 4 !== 4) throw new MalformedPacket('not IPv4');
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ihl < IP_HEADER || ip.length < ihl + UDP_HEADER) throw new MalformedPacket('bad IP header length');
  const total = ip.readUInt16BE(2);
  if (total < ihl + UDP_HEADER || total > ip.length) throw new MalformedPacket('bad IP total length');
  if (ip.readUInt16BE(6) & 0x3fff) throw new MalformedPacket('IP fragment');
  if (ip[9] !== 17) throw new MalformedPacket('not UDP');
  if (sum16(ip, 0, ihl) !== 0xffff) throw new MalformedPacket('bad IP header checksum');
  const udpLength = ip.readUInt16BE(ihl + 4);
  if (udpLength < UDP_HEADER || ihl + udpLength > total) throw new MalformedPacket('bad UDP length');
  if (ip.readUInt16BE(ihl + 2) !== DHCP_CLIENT_PORT) throw new MalformedPacket('not to port 68');
  const src = ip.readUInt32BE(12);
  if (opts.checksumReady !== false && ip.readUInt16BE(ihl + 6) !== 0) {
    const s = sum16(ip, ihl, ihl + udpLength, udpPseudoSum(src, ip.readUInt32BE(16), udpLength));
    if (s !== 0xffff) throw new MalformedPacket('bad UDP checksum');
  }
  return { src: intToIpv4(src), payload: ip.subarray(ihl + UDP_HEADER, ihl + udpLength) };
}

/** Options as code → value; the first occurrence of a code wins, except concatenated long ones. */
function readOptions(b: Buffer, start: number, end: number, into: Map<number, Buffer>): void {
  for (let i = start; i < end; ) {
    const code = b[i]!;
    if (code === OPT.PAD) {
      i++;
      continue;
    }
    if (code === OPT.END) return;
    if (i + 1 >= end) throw new MalformedPacket(`option ${code} cut off`);
    const len = b[i + 1]!;
    if (i + 2 + len > end) throw new MalformedPacket(`option ${code} longer than the message`);
    const value = b.subarray(i + 2, i + 2 + len);
    const prev = into.get(code);
    // RFC 3396: a repeated option continues the earlier one.
    into.set(code, prev ? Buffer.concat([prev, value]) : value);
    i += 2 + len;
  }
}

function addrList(v: Buffer | undefined, what: string): string[] {
  if (!v) return [];
  if (v.length === 0 || v.length % 4 !== 0)
    throw new MalformedPacket(`${what}: length ${v.length} is not a multiple of 4`);
  const out: string[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(intToIpv4(v.readUInt32BE(i)));
  return out;
}

function u32(v: Buffer | undefined, what: string): number | null {
  if (!v) return null;
  if (v.length !== 4) throw new MalformedPacket(`${what}: length ${v.length}, expected 4`);
  return v.readUInt32BE(0);
}

/** A server's BOOTREPLY; `ipSource` stands in for a missing server identifier. */
export function decodeDhcp(b: Buffer, ipSource: string): ServerMessage {
  if (b.length < BOOTP_FIXED) throw new MalformedPacket(`BOOTP message of ${b.length} bytes`);
  if (b[0] !== 2) throw new MalformedPacket('not a BOOTREPLY');
  if (b[1] !== 1 || b[2] !== 6) throw new MalformedPacket('not Ethernet');
  if (b.readUInt32BE(236) !== MAGIC_COOKIE) throw new MalformedPacket('no DHCP magic cookie');
  const opts = new Map<number, Buffer>();
  readOptions(b, BOOTP_FIXED, b.length, opts);
  const overload = opts.get(OPT.OVERLOAD);
  // RFC 2132 §9.3: options may continue in `file` (1) and/or `sname` (2).
  if (overload && overload.length === 1) {
    if (overload[0]! & 1) readOptions(b, 108, 236, opts);
    if (overload[0]! & 2) readOptions(b, 44, 108, opts);
  }
  const typeOpt = opts.get(OPT.MESSAGE_TYPE);
  if (typeOpt?.length !== 1) throw new MalformedPacket('no DHCP message type');
  const type = typeOpt[0]!;
  if (type !== MessageType.OFFER && type !== MessageType.ACK && type !== MessageType.NAK)
    throw new MalformedPacket(`message type ${type} is not a server reply`);
  const maskValue = u32(opts.get(OPT.SUBNET_MASK), 'subnet mask');
  const prefixLength = maskValue === null ? null : (prefixOfNetmask(intToIpv4(maskValue)) ?? null);
  if (maskValue !== null && (prefixLength === null || prefixLength === 0))
    throw new MalformedPacket(`subnet mask ${intToIpv4(maskValue)} is not contiguous`);
  const serverIds = addrList(opts.get(OPT.SERVER_ID), 'server identifier');
  if (serverIds.length > 1) throw new MalformedPacket('more than one server identifier');
  const yiaddr = intToIpv4(b.readUInt32BE(16));
  if (type !== MessageType.NAK) {
    const first = b[16]!;
    if (yiaddr === '0.0.0.0' || yiaddr === '255.255.255.255' || first === 127 || first >= 224)
      throw new MalformedPacket(`offered address ${yiaddr} is not a unicast address`);
  }
  return {
    type,
    xid: b.readUInt32BE(4),
    chaddr: Buffer.from(b.subarray(28, 34)),
    yiaddr,
    serverId: serverIds[0] ?? ipSource,
    prefixLength,
    routers: addrList(opts.get(OPT.ROUTER), 'router'),
    dns: addrList(opts.get(OPT.DNS), 'DNS'),
    leaseSeconds: u32(opts.get(OPT.LEASE_TIME), 'lease time'),
    t1: u32(opts.get(OPT.T1), 'T1'),
    t2: u32(opts.get(OPT.T2), 'T2'),
  };
}

/** Classful default prefix (RFC 2131 leaves the mask optional). */
export function classfulPrefix(address: string): number {
  const first = ipv4ToInt(address) >>> 24;
  return first < 128 ? 8 : first < 192 ? 16 : 24;
}
