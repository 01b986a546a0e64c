import { describe, expect, it } from 'vitest';
import { parseAck, parseMessages } from '../../../../../daemon/adapters/netlink/request-socket.js';
import * as counters from '../../../../../daemon/adapters/nftables/netlink-counters.js';
import * as nl from '../../../../../daemon/adapters/nftables/netlink-encode.js';

const hex = (b: Buffer): string => b.toString('hex');

/** Finds `needle` in `hay` (as hex) – for checking one attribute inside a message. */
const contains = (hay: Buffer, needle: string): boolean => hex(hay).includes(needle.replace(/\s+/g, ''));

describe('nf_tables netlink encoding (byte layouts)', () => {
  it('an attribute: host-order len (unpadded) and type, payload padded to 4 bytes', () => {
    expect(hex(nl.strAttr(1, 'ab'))).toBe('0700' + '0100' + '616200' + '00');
    expect(hex(nl.be32Attr(3, 1))).toBe('0800' + '0300' + '00000001');
    expect(hex(nl.nest(4, [nl.be32Attr(1, 2)]))).toBe('0c00' + '0480' + '0800010000000002');
    expect(() => nl.attr(1, Buffer.alloc(65532))).toThrow(RangeError);
  });

  it('a batch: BEGIN/END with res_id 10 big-endian, family inet per command, ACK only on the last', () => {
    let seq = 100;
    const b = nl.encodeBatch([counters.addCounter('t', 'tx_a'), nl.addChain('t', 's_a')], () => seq++);
    const msgs = parseMessages(b.buf, b.buf.length);
    expect(msgs.map((m) => m.type)).toEqual([16, (10 << 8) | 18, (10 << 8) | 3, 17]);
    expect(msgs.map((m) => m.seq)).toEqual([100, 101, 102, 103]);
    expect(b.beginSeq).toBe(100);
    expect(b.seqs).toEqual([101, 102]);
    expect(msgs[0]!.flags).toBe(nl.NLM_F_REQUEST);
    expect(hex(msgs[0]!.payload)).toBe('0000000a'); // AF_UNSPEC, version 0, res_id htons(10)
    expect(msgs[1]!.flags).toBe(nl.NLM_F_REQUEST | nl.NLM_F_CREATE);
    expect(msgs[2]!.flags).toBe(nl.NLM_F_REQUEST | nl.NLM_F_CREATE | nl.NLM_F_ACK);
    expect(hex(msgs[1]!.payload).slice(0, 8)).toBe('01000000'); // NFPROTO_INET
  });

  it('a named counter: table, name, type be32 1, data with be64 zeros', () => {
    const c = counters.addCounter('t', 'tx_a');
    expect(c.type).toBe(nl.MSG.NEWOBJ);
    const body = Buffer.concat(c.attrs);
    expect(contains(body, '0800 0300 00000001')).toBe(true);
    expect(contains(body, '1c00 0480 0c00 0100 0000000000000000 0c00 0200 0000000000000000')).toBe(true);
  });

  it('the service rule is what nft 1.0.6 sends (nft --debug=mnl): mask and xor in host order, comment as user data', () => {
    // meta mark set meta mark and 0xf0000000 or 0x00020000 comment "abc"
    const r = nl.addServiceRule('t', 'svc_00020000', 0x0fffffff, 0x00020000, 'abc');
    const body = Buffer.concat(r.attrs);
    expect(r.flags).toBe(nl.NLM_F_CREATE | nl.NLM_F_APPEND);
    // meta load: key MARK (3), dreg 1
    expect(contains(body, '0900 0100 6d657461 000000 00 1400 0280 0800 0200 00000003 0800 0100 00000001')).toBe(true);
    // bitwise: sreg 1, dreg 1, op bool, len 4, mask 0xf0000000 → 00 00 00 f0, xor 0x00020000 → 00 00 02 00
    expect(contains(body, '0c00 0480 0800 0100 000000f0 0c00 0580 0800 0100 00000200')).toBe(true);
    expect(contains(body, '0800 0100 00000001 0800 0200 00000001 0800 0600 00000000 0800 0300 00000004')).toBe(true);
    // meta set: key MARK, sreg 1 (attribute 3); no ct set (the conntrack mark is set by classification)
    expect(contains(body, '0800 0200 00000003 0800 0300 00000001')).toBe(true);
    expect(contains(body, '0700 0100 637400 00')).toBe(false);
    // user data: TLV (type 0, len 4, "abc\0")
    expect(hex(nl.commentUserdata('abc'))).toBe('0004' + '61626300');
    expect(contains(body, '0a00 0700 0004 61626300 0000')).toBe(true);
  });

  it('the SNAT rule is what nft 1.0.6 sends: mark and mask, 16-byte interface name, fib saddr type local, immediate address, nat', () => {
    const r = nl.addSnatRule('t', 'postrouting', 0x0fff0000, 0x20000, 'eth-b', 4, Buffer.from([198, 51, 100, 18]), 'x');
    const body = Buffer.concat(r.attrs);
    expect(contains(body, '0c00 0480 0800 0100 0000ff0f')).toBe(true); // mask 0x0fff0000, host order
    expect(contains(body, '0c00 0380 0800 0100 00000200')).toBe(true); // cmp eq 0x00020000
    expect(contains(body, '0800 0200 00000007 0800 0100 00000001')).toBe(true); // meta load oifname
    expect(contains(body, '1400 0100 6574682d62000000 0000000000000000')).toBe(true); // "eth-b" in 16 bytes
    expect(contains(body, '0800 0300 00000001 0800 0200 00000003 0800 0100 00000001')).toBe(true); // fib saddr type
    expect(contains(body, '0c00 0380 0800 0100 02000000')).toBe(true); // RTN_LOCAL
    expect(contains(body, '0c00 0280 0800 0100 c6336412')).toBe(true); // immediate 198.51.100.18
    expect(contains(body, '0800 0100 00000000 0800 0200 00000002 0800 0300 00000001')).toBe(true); // snat, NFPROTO_IPV4, reg 1
    const r6 = nl.addSnatRule('t', 'postrouting', 0x0fff0000, 0x20000, 'eth-b', 6, Buffer.alloc(16), 'x');
    expect(contains(Buffer.concat(r6.attrs), '0800 0200 0000000a')).toBe(true); // NFPROTO_IPV6
  });

  it('map elements: uid key and mark data in host order, jump as be32 -3 with the chain, counter references by name', () => {
    const [add] = nl.addElements('t', 'uid', [{ key: nl.hostU32(99999), data: { mark: 0x00020001 } }]);
    const body = Buffer.concat(add!.attrs);
    expect(contains(body, '0c00 0180 0800 0100 9f860100')).toBe(true); // NFTA_SET_ELEM_KEY
    expect(contains(body, '0c00 0280 0800 0100 01000200')).toBe(true); // NFTA_SET_ELEM_DATA > NFTA_DATA_VALUE
    const [svc] = nl.addElements('t', 'svc', [{ key: nl.hostU32(0x20000), data: { jump: 'svc_5' } }]);
    expect(contains(Buffer.concat(svc!.attrs), '0800 0100 fffffffd 0a00 0200 7376635f3500')).toBe(true);
    const [ref] = nl.addElements('t', 'tx', [{ key: nl.hostU32(1), data: { counter: 'tx_a' } }]);
    expect(contains(Buffer.concat(ref!.attrs), '0900 0900 74785f6100')).toBe(true); // NFTA_SET_ELEM_OBJREF
    const [del] = nl.deleteElements('t', 'src4', [Buffer.from([198, 51, 100, 7])]);
    expect(del!.type).toBe(nl.MSG.DELSETELEM);
    expect(contains(Buffer.concat(del!.attrs), '0800 0100 c6336407')).toBe(true);
  });

  it('long element lists are split so every nest fits a u16 length', () => {
    const many = Array.from({ length: 2500 }, (_, i) => ({ key: nl.hostU32(i), data: { mark: 7 } as const }));
    const cmds = nl.addElements('t', 'uid', many);
    expect(cmds).toHaveLength(3);
  });

  it('decodes a NEWOBJ counter (be64 values; unknown attributes skipped) and an extended ACK', () => {
    const payload = Buffer.concat([
      Buffer.from([1, 0, 0, 0]),
      nl.strAttr(1, 't'),
      nl.strAttr(2, 'rx_a'),
      nl.be32Attr(3, 1),
      nl.nest(4, [
        nl.attr(1, Buffer.from('0000000100000000', 'hex')),
        nl.attr(2, Buffer.from('0000000000000007', 'hex')),
        nl.attr(3, Buffer.alloc(4)),
      ]),
    ]);
    expect(counters.parseCounter(payload)).toEqual({ table: 't', name: 'rx_a', packets: 7n, bytes: 4294967296n });
    const err = Buffer.concat([
      Buffer.from([0xfe, 0xff, 0xff, 0xff]),
      Buffer.alloc(16),
      nl.strAttr(1, 'No such chain'),
    ]);
    err.writeUInt32LE(16, 4);
    expect(parseAck({ type: 2, flags: 0x300, seq: 1, payload: err })).toEqual({ error: 2, message: 'No such chain' });
    expect(parseAck({ type: 2, flags: 0, seq: 1, payload: Buffer.alloc(20) })).toEqual({ error: 0 });
  });
});
