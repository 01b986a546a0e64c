/**
 * A DHCP server's side of the wire for unit tests: builds replies (IPv4/UDP 67 → 68, checksums
 * filled in) and reads what the client sent. Written from RFC 2131/2132 independently of the
 * daemon's codec, so the two check each other.
 */

export const MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x02]);

export interface Reply {
  type: number;
  xid: number;
  yiaddr?: string;
  chaddr?: Buffer;
  /** Raw options as [code, bytes]; message type first is added automatically. */
  options?: Array<[number, number[]]>;
  /** Replaces the magic cookie. */
  cookie?: number;
  op?: number;
}

const ip = (a: string): number[] => a.split('.').map(Number);

export function bootpReply(r: Reply): Buffer {
  const b = Buffer.alloc(300);
  b[0] = r.op ?? 2;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(r.xid >>> 0, 4);
  Buffer.from(ip(r.yiaddr ?? '0.0.0.0')).copy(b, 16);
  (r.chaddr ?? MAC).copy(b, 28);
  b.writeUInt32BE(r.cookie ?? 0x63825363, 236);
  const opts = [53, 1, r.type, ...(r.options ?? []).flatMap(([code, v]) => [code, v.length, ...v]), 255];
  Buffer.from(opts).copy(b, 240);
  return b;
}

function csum(buf: Buffer, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (buf[i]! << 8) + (i + 1 < end ? buf[i + 1]! : 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/** Wraps a BOOTP payload as the server sends it: 198.51.100.17:67 → 255.255.255.255:68. */
export function ipUdp(payload: Buffer, src = '198.51.100.17', dst = '255.255.255.255'): Buffer {
  const b = Buffer.alloc(28 + payload.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = 17;
  Buffer.from(ip(src)).copy(b, 12);
  Buffer.from(ip(dst)).copy(b, 16);
  b.writeUInt16BE(csum(b, 0, 20), 10);
  b.writeUInt16BE(67, 20);
  b.writeUInt16BE(68, 22);
  b.writeUInt16BE(8 + payload.length, 24);
  payload.copy(b, 28);
  const pseudo = [12, 14, 16, 18].reduce((s, o) => s + b.readUInt16BE(o), 0) + 17 + 8 + payload.length;
  b.writeUInt16BE(csum(b, 20, b.length, pseudo) || 0xffff, 26);
  return b;
}

/** What a client datagram says: IP addresses, ports, BOOTP fields and options by code. */
export function readClient(d: Buffer) {
  const opts = new Map<number, Buffer>();
  for (let i = 28 + 240; i < d.length && d[i] !== 255; ) {
    if (d[i] === 0) {
      i++;
      continue;
    }
    opts.set(d[i]!, d.subarray(i + 2, i + 2 + d[i + 1]!));
    i += 2 + d[i + 1]!;
  }
  const addr = (o: number) => [...d.subarray(o, o + 4)].join('.');
  const optAddr = (code: number) => (opts.has(code) ? [...opts.get(code)!].join('.') : undefined);
  return {
    src: addr(12),
    dst: addr(16),
    sport: d.readUInt16BE(20),
    dport: d.readUInt16BE(22),
    ipChecksumOk: csum(d, 0, 20) === 0,
    udpChecksumOk:
      csum(d, 20, d.length, [12, 14, 16, 18].reduce((x, o) => x + d.readUInt16BE(o), 0) + 17 + d.readUInt16BE(24)) ===
      0,
    op: d[28],
    xid: d.readUInt32BE(28 + 4),
    flags: d.readUInt16BE(28 + 10),
    ciaddr: addr(28 + 12),
    chaddr: d.subarray(28 + 28, 28 + 34),
    type: opts.get(53)?.[0],
    requestedIp: optAddr(50),
    serverId: optAddr(54),
    clientId: opts.get(61),
  };
}

/** The options of a full ACK/OFFER for `addr` from 198.51.100.17. */
export function leaseOptions(lease = 120): Array<[number, number[]]> {
  return [
    [54, ip('198.51.100.17')],
    [51, [0, 0, (lease >> 8) & 255, lease & 255]],
    [1, ip('255.255.255.248')],
    [3, ip('198.51.100.17')],
    [6, [...ip('203.0.113.53'), ...ip('203.0.113.54')]],
  ];
}
