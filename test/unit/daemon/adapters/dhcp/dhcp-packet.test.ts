import { describe, expect, it } from 'vitest';
import {
  decodeDhcp,
  decodeIpUdp,
  encodeDhcp,
  encodeIpUdp,
  MalformedPacket,
  MessageType,
} from '../../../../../daemon/adapters/dhcp/dhcp-packet.js';
import { bootpReply, ipUdp, leaseOptions, MAC, readClient } from './dhcp-wire.js';

const decode = (datagram: Buffer) => {
  const { src, payload } = decodeIpUdp(datagram);
  return decodeDhcp(payload, src);
};

describe('DHCP packets: what the client sends', () => {
  it('an INIT-REBOOT request: broadcast from 0.0.0.0, option 50, no server identifier, valid checksums', () => {
    const d = encodeIpUdp(
      encodeDhcp({
        type: MessageType.REQUEST,
        xid: 0xdeadbeef,
        mac: MAC,
        requestedIp: '198.51.100.19',
        broadcast: true,
      }),
      '0.0.0.0',
      '255.255.255.255',
    );
    const m = readClient(d);
    expect(m).toMatchObject({
      src: '0.0.0.0',
      dst: '255.255.255.255',
      sport: 68,
      dport: 67,
      ipChecksumOk: true,
      op: 1,
      xid: 0xdeadbeef,
      flags: 0x8000,
      ciaddr: '0.0.0.0',
      type: 3,
      requestedIp: '198.51.100.19',
      serverId: undefined,
    });
    expect(m.chaddr.equals(MAC)).toBe(true);
    expect([...m.clientId!]).toEqual([1, ...MAC]);
    // At least the 300 bytes of BOOTP some servers insist on.
    expect(d.length).toBeGreaterThanOrEqual(28 + 300);
  });

  it('a renewal and a release carry ciaddr, go unicast to the server, without the broadcast flag', () => {
    const renew = readClient(
      encodeIpUdp(
        encodeDhcp({ type: MessageType.REQUEST, xid: 1, mac: MAC, ciaddr: '198.51.100.19' }),
        '198.51.100.19',
        '198.51.100.17',
      ),
    );
    expect(renew).toMatchObject({
      src: '198.51.100.19',
      dst: '198.51.100.17',
      ciaddr: '198.51.100.19',
      flags: 0,
      requestedIp: undefined,
      serverId: undefined,
    });
    const release = readClient(
      encodeIpUdp(
        encodeDhcp({ type: MessageType.RELEASE, xid: 2, mac: MAC, ciaddr: '198.51.100.19', serverId: '198.51.100.17' }),
        '198.51.100.19',
        '198.51.100.17',
      ),
    );
    expect(release).toMatchObject({ type: 7, ciaddr: '198.51.100.19', serverId: '198.51.100.17' });
  });

  it('its UDP checksum verifies with the pseudo header, for odd payload lengths too', () => {
    for (const extra of [0, 1]) {
      const payload = Buffer.concat([
        encodeDhcp({ type: MessageType.DISCOVER, xid: 7, mac: MAC, broadcast: true }),
        Buffer.alloc(extra),
      ]);
      expect(readClient(encodeIpUdp(payload, '0.0.0.0', '255.255.255.255')).udpChecksumOk).toBe(true);
    }
  });
});

describe('DHCP packets: what the client accepts', () => {
  it('decodes an ACK: address, prefix, routers, DNS, lease, server identifier', () => {
    const m = decode(ipUdp(bootpReply({ type: 5, xid: 42, yiaddr: '198.51.100.19', options: leaseOptions(120) })));
    expect(m).toMatchObject({
      type: 5,
      xid: 42,
      yiaddr: '198.51.100.19',
      serverId: '198.51.100.17',
      prefixLength: 29,
      routers: ['198.51.100.17'],
      dns: ['203.0.113.53', '203.0.113.54'],
      leaseSeconds: 120,
      t1: null,
      t2: null,
    });
    expect(m.chaddr.equals(MAC)).toBe(true);
  });

  it('takes the IP source for a missing server identifier, and a NAK without an address', () => {
    const m = decode(ipUdp(bootpReply({ type: 6, xid: 1 }), '198.51.100.17'));
    expect(m).toMatchObject({ type: 6, serverId: '198.51.100.17', prefixLength: null, leaseSeconds: null });
  });

  it('reads options continued in the file field (option overload)', () => {
    const b = bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19', options: [[52, [1]]] });
    Buffer.from([51, 4, 0, 0, 0, 60, 255]).copy(b, 108);
    expect(decode(ipUdp(b)).leaseSeconds).toBe(60);
  });

  const bad: Array<[string, () => Buffer]> = [
    ['a truncated datagram', () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' })).subarray(0, 20)],
    [
      'a wrong IP header checksum',
      () => {
        const d = ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' }));
        d.writeUInt8(d[10]! ^ 0xff, 10);
        return d;
      },
    ],
    [
      'a wrong UDP checksum',
      () => {
        const d = ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' }));
        d.writeUInt8(d[100]! ^ 0x01, 100);
        return d;
      },
    ],
    [
      'an IP fragment',
      () => {
        const d = ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' }));
        d.writeUInt16BE(0x2000, 6);
        return d;
      },
    ],
    [
      'a UDP length beyond the datagram',
      () => {
        const d = ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' }));
        d.writeUInt16BE(d.length, 24);
        return d;
      },
    ],
    ['a BOOTREQUEST (another client)', () => ipUdp(bootpReply({ op: 1, type: 5, xid: 1, yiaddr: '198.51.100.19' }))],
    ['no magic cookie', () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19', cookie: 0 }))],
    [
      'an option running past the end',
      () => {
        const b = bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' });
        b[243] = 6;
        b[244] = 200;
        return ipUdp(b);
      },
    ],
    [
      'a DNS option of 5 bytes',
      () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19', options: [[6, [1, 2, 3, 4, 5]]] })),
    ],
    [
      'a non-contiguous netmask',
      () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19', options: [[1, [255, 0, 255, 0]]] })),
    ],
    [
      'a lease time of 2 bytes',
      () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19', options: [[51, [0, 60]]] })),
    ],
    ['a client message type (DISCOVER)', () => ipUdp(bootpReply({ type: 1, xid: 1, yiaddr: '198.51.100.19' }))],
    ['an ACK for 0.0.0.0', () => ipUdp(bootpReply({ type: 5, xid: 1 }))],
    ['an ACK for a multicast address', () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '224.0.0.1' }))],
    ['an ACK for a loopback address', () => ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '127.0.0.1' }))],
  ];
  it.each(bad)('rejects %s', (_what, make) => {
    expect(() => decode(make())).toThrow(MalformedPacket);
  });

  it('rejects a datagram to another port', () => {
    const d = ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19' }));
    d.writeUInt16BE(67, 22);
    expect(() => decodeIpUdp(d)).toThrow(/port 68/);
  });

  it('never throws anything but MalformedPacket on random bytes', () => {
    const good = ipUdp(bootpReply({ type: 5, xid: 1, yiaddr: '198.51.100.19', options: leaseOptions() }));
    let seed = 1;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 2000; i++) {
      const d = Buffer.from(good.subarray(0, Math.floor(rnd() * good.length)));
      for (let j = 0; j < 4; j++) if (d.length) d[Math.floor(rnd() * d.length)] = Math.floor(rnd() * 256);
      try {
        decode(d);
      } catch (err) {
        expect(err).toBeInstanceOf(MalformedPacket);
      }
    }
  });
});
