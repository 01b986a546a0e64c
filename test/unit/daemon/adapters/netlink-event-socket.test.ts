import { describe, expect, it } from 'vitest';
import { parseMessages } from '../../../../daemon/adapters/netlink/request-socket.js';

/** What the event socket does with one received datagram. */
const splitDatagram = (b: Buffer) => parseMessages(b, b.length);

function nlmsg(type: number, flags: number, payload: number[]): Buffer {
  const len = 16 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(7, 8);
  b.writeUInt32LE(0, 12);
  Buffer.from(payload).copy(b, 16);
  return b;
}

describe('netlink event socket datagrams', () => {
  it('splits a datagram into messages, honouring 4-byte alignment', () => {
    const msgs = splitDatagram(Buffer.concat([nlmsg(16, 0, [1, 2, 3]), nlmsg(17, 2, [4, 5, 6, 7, 8])]));
    expect(msgs.map((m) => [m.type, m.flags, m.seq, [...m.payload]])).toEqual([
      [16, 0, 7, [1, 2, 3]],
      [17, 2, 7, [4, 5, 6, 7, 8]],
    ]);
  });

  it('stops at a truncated or nonsensical header instead of reading past the datagram', () => {
    const good = nlmsg(16, 0, [1]);
    const bad = Buffer.alloc(16);
    bad.writeUInt32LE(4096, 0);
    expect(splitDatagram(Buffer.concat([good, bad])).map((m) => m.type)).toEqual([16]);
    expect(splitDatagram(Buffer.alloc(10))).toEqual([]);
  });
});
