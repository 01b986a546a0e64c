/**
 * The rtnetlink codec against bytes the kernel sent: dumps read in a test namespace (kernel 6.18)
 * after `ip` had set up a veth pair eth-x/eth-y (ifindex 3/2), 198.51.100.2/24 and 2001:db8::2/64
 * on eth-x, and
 *   ip route add default via 198.51.100.1 dev eth-x table 10001 proto 110
 *   ip route add 203.0.113.0/24 via 198.51.100.9 dev eth-x onlink metric 7
 *   ip -6 route add default via 2001:db8::1 dev eth-x table 10001
 *   ip rule add from 198.51.100.2 lookup 10001 pref 10001 proto 110
 *   ip rule add fwmark 0x10000/0x0fff0000 lookup 10001 pref 10501 proto 110
 *   ip rule add iif eth-y uidrange 100-200 dport 53 lookup 10002 pref 10600
 *   ip -6 rule add from 2001:db8::2 lookup 10001 pref 10001
 * Each payload is the message after its nlmsghdr.
 */
import { describe, expect, it } from 'vitest';
import { decodeAddress, decodeLink, decodeRoute } from '../../../../../daemon/adapters/rtnetlink/link-records.js';
import {
  decodeMessage,
  encodeMessage,
  frame,
  type RtMessage,
} from '../../../../../daemon/adapters/rtnetlink/messages/codec.js';
import { RTM } from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';
import { addRouteMessage, decodeTableRoute } from '../../../../../daemon/adapters/rtnetlink/routes.js';
import { addRuleMessage, decodeRule, delRuleMessage } from '../../../../../daemon/adapters/rtnetlink/rules.js';

const hex = (s: string) => Buffer.from(s, 'hex');

const LINK_ETH_X = hex(
  [
    '000001000300000043100100000000000a0003006574682d7800000008000d00e8030000050010000600000005001100',
    '00000000050043000000000008000400dc050000080032004400000008003300ffff000008001b000000000008001e00',
    '0000000008003d000000000008001f000200000008002800ffff0000080029000000010008003a000000010008003f00',
    '00000100080040000000010008003b00f8ff070008003c00ffff00000800420000000000080020000200000005002100',
    '01000000080023000200000008002f000100000008003000010000000600440000000000060045000000000005002700',
    '000000000a00010012db5f72bf1000000a000200ffffffffffff0000cc00170001000000000000000200000000000000',
    '5a00000000000000c4000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000006400070001000000',
    '020000005a000000c4000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000c002b00',
    '05000200000000001000120009000100766574680000000008000500020000000c0006006e6f71756575650030031a00',
    '8c0002008800010000000000000000000000000001000000010000000100000001000000000000000100000000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '0000000000000000000000000000000010270000e80300000000000000000000000000000000000001000000a0020a00',
    '080001000000008014000500ffff00009a220e0074640000e8030000f40002000000000040000000dc05000001000000',
    '010000000100000001000000ffffffffa00f0000e803000000000000803a090080510100030000005802000010000000',
    '0000000001000000010000000100000060ea000000000000000000000000000000000000000000000000000001000000',
    '000000000000000010270000e80300000100000000000000000000000100000000000000000000000100000000000000',
    '00000000000000000000000080ee36000000000000000000010000000000000000000000000000000000000000000000',
    '0004000000000000ffff0000ffffffff0100000000000000000000000000000034010300260000000000000001000000',
    '000000004c00000000000000000000000000000001000000000000000000000000000000000000000000000000000000',
    '0000000002000000000000000200000000000000a8000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
    '000000000000000000000000000000000000000001000000000000000200000000000000000000000000000000000000',
    '000000004c00000000000000a80000000000000000000000000000000000000000000000000000000000000000000000',
    '000000003c00060007000000000000000000000000000000000000000000000002000000000000000000000000000000',
    '000000000000000000000000000000001400070000000000000000000000000000000000050008000000000024000e00',
    '000000000000000000000000000000000000000000000000000000000000000004003e8004004180',
  ].join(''),
);
const ADDR_V4 = hex(
  '021880000300000008000100c633640208000200c63364020a0003006574682d78000000080008008000000014000600ffffffffffffffff9a220e009a220e00',
);
const ADDR_V6 = hex(
  '0a408200030000001400010020010db800000000000000000000000214000600ffffffffffffffff9b220e009b220e000800080082000000',
);
const ROUTE_V4_DEFAULT_T10001 = hex('02000000fc6e00010000000008000f001127000008000500c63364010800040003000000');
const ROUTE_V4_ONLINK_METRIC7 = hex(
  '02180000fe0300010400000008000f00fe00000008000100cb007100080006000700000008000500c63364090800040003000000',
);
const ROUTE_V6_DEFAULT_T10001 = hex(
  '0a000000fc0300010000000008000f001127000008000600000400001400050020010db8000000000000000000000001080004000300000024000c0000000000000000000000000000000000000000000000000000000000000000000500140000000000',
);
const RULE_FROM = hex(
  '02002000fc0000010000000008000f001127000008000e00ffffffff050015006e000000080006001127000008000200c6336402',
);
const RULE_FWMARK = hex(
  '02000000fc0000010000000008000f001127000008000e00ffffffff050015006e000000080006000529000008000a0000000100080010000000ff0f',
);
const RULE_IIF_UID_DPORT = hex(
  '02000000fc0000010000000008000f001227000008000e00ffffffff05001500000000000a0003006574682d7900000008000600682900000c00140064000000c8000000080018003500350006001d00ffff0000',
);
const RULE_V6_FROM = hex(
  '0a008000fc0000010000000008000f001127000008000e00ffffffff050015000000000008000600112700001400020020010db8000000000000000000000002',
);

function decoded(type: number, payload: Buffer): RtMessage {
  const m = decodeMessage(type, payload);
  if (!m) throw new Error('not decoded');
  return m;
}

describe('rtnetlink codec on kernel bytes', () => {
  it('re-encodes address, route and rule messages byte for byte', () => {
    for (const [type, bytes] of [
      [RTM.NEWADDR, ADDR_V4],
      [RTM.NEWADDR, ADDR_V6],
      [RTM.NEWROUTE, ROUTE_V4_DEFAULT_T10001],
      [RTM.NEWROUTE, ROUTE_V4_ONLINK_METRIC7],
      [RTM.NEWROUTE, ROUTE_V6_DEFAULT_T10001],
      [RTM.NEWRULE, RULE_FROM],
      [RTM.NEWRULE, RULE_FWMARK],
      [RTM.NEWRULE, RULE_IIF_UID_DPORT],
      [RTM.NEWRULE, RULE_V6_FROM],
    ] as const) {
      expect(encodeMessage(decoded(type, bytes)).toString('hex')).toBe(bytes.toString('hex'));
    }
  });

  it('decodes a veth link: index, name, kind, mtu, admin state and carrier', () => {
    const m = decoded(RTM.NEWLINK, LINK_ETH_X);
    expect(m).toMatchObject({ kind: 'link', family: 0, type: 1, index: 3 });
    expect(m.kind === 'link' && decodeLink(m)).toMatchObject({
      ifindex: 3,
      name: 'eth-x',
      kind: 'veth',
      arphrd: 1,
      mtu: 1500,
      adminUp: true,
      carrier: true,
      loopback: false,
      enslaved: false,
    });
  });

  it('decodes addresses: IFA_LOCAL for v4, IFA_ADDRESS and IFA_FLAGS for v6', () => {
    const v4 = decoded(RTM.NEWADDR, ADDR_V4);
    expect(v4.kind === 'address' && decodeAddress(v4)).toEqual({
      ifindex: 3,
      family: 4,
      address: '198.51.100.2',
      prefixLength: 24,
      scope: 0,
      flags: { permanent: true, tentative: false, dadfailed: false, secondary: false },
    });
    const v6 = decoded(RTM.NEWADDR, ADDR_V6);
    // nodad: permanent, never tentative.
    expect(v6.kind === 'address' && decodeAddress(v6)).toMatchObject({
      family: 6,
      address: '2001:db8::2',
      prefixLength: 64,
      flags: { permanent: true, tentative: false },
    });
  });

  it('decodes routes of a table above 255 (rtm_table 252, the id in RTA_TABLE) and the onlink flag', () => {
    const t = decoded(RTM.NEWROUTE, ROUTE_V4_DEFAULT_T10001);
    expect(t).toMatchObject({ table: 252, protocol: 0x6e });
    expect(t.kind === 'route' && decodeTableRoute(t)).toMatchObject({
      family: 4,
      table: 10001,
      dst: '',
      dstLen: 0,
      gateway: '198.51.100.1',
      ifindex: 3,
      metric: 0,
      onlink: false,
      exotic: '',
      protocol: 0x6e,
    });
    const onlink = decoded(RTM.NEWROUTE, ROUTE_V4_ONLINK_METRIC7);
    expect(onlink.kind === 'route' && decodeTableRoute(onlink)).toMatchObject({
      table: 254,
      dst: '203.0.113.0',
      dstLen: 24,
      gateway: '198.51.100.9',
      metric: 7,
      onlink: true,
    });
    const v6 = decoded(RTM.NEWROUTE, ROUTE_V6_DEFAULT_T10001);
    expect(v6.kind === 'route' && decodeTableRoute(v6)).toMatchObject({
      family: 6,
      table: 10001,
      gateway: '2001:db8::1',
      metric: 1024,
      ifindex: 3,
      exotic: '',
    });
    expect(v6.kind === 'route' && decodeRoute(v6)).toMatchObject({
      table: 10001,
      metric: 1024,
      nexthops: [{ ifindex: 3, gateway: '2001:db8::1' }],
    });
  });

  it('decodes rules, the selectors we never install included', () => {
    const rule = (b: Buffer) => {
      const m = decoded(RTM.NEWRULE, b);
      return m.kind === 'rule' ? decodeRule(m) : null;
    };
    expect(rule(RULE_FROM)).toMatchObject({
      family: 4,
      priority: 10001,
      table: 10001,
      action: 1,
      src: '198.51.100.2',
      srcLen: 32,
      mark: 0,
      mask: 0,
      extra: '',
      protocol: 0x6e,
    });
    expect(rule(RULE_FWMARK)).toMatchObject({ priority: 10501, mark: 0x10000, mask: 0x0fff0000, extra: '' });
    expect(rule(RULE_IIF_UID_DPORT)).toMatchObject({
      priority: 10600,
      table: 10002,
      protocol: 0,
      extra: 'iif eth-y uidrange 100-200 dport 53-53',
    });
    expect(rule(RULE_V6_FROM)).toMatchObject({ family: 6, src: '2001:db8::2', srcLen: 128 });
  });

  it('builds what the kernel reports back: our add requests carry the dumped bytes of each attribute they set', () => {
    const subset = (ours: RtMessage, dumped: RtMessage) => {
      for (const [t, v] of ours.attrs)
        expect([t, dumped.attrs.get(t)?.toString('hex')]).toEqual([t, v.toString('hex')]);
    };
    const fwmark = decoded(RTM.NEWRULE, RULE_FWMARK);
    if (fwmark.kind !== 'rule') throw new Error('rule');
    const spec = decodeRule(fwmark)!;
    const add = addRuleMessage(spec);
    subset(add, fwmark);
    expect(encodeMessage(add).subarray(0, 12).toString('hex')).toBe('020000000000000100000000');
    // The delete echoes the dump: every attribute, nothing else.
    expect(encodeMessage(delRuleMessage(spec)).subarray(12).toString('hex')).toBe(
      RULE_FWMARK.subarray(12).toString('hex'),
    );
    const route = decoded(RTM.NEWROUTE, ROUTE_V4_DEFAULT_T10001);
    if (route.kind !== 'route') throw new Error('route');
    subset(addRouteMessage(decodeTableRoute(route)!), route);
  });

  it('frames a request: length, type, flags, seq, port 0, payload padded to 4 bytes', () => {
    expect(frame(RTM.GETLINK, 0x301, 7, Buffer.from([1, 2, 3])).toString('hex')).toBe(
      '13000000120001030700000000000000010203' + '00',
    );
  });

  it('refuses payloads shorter than their fixed header, and types that are no rtnetlink object', () => {
    expect(decodeMessage(RTM.NEWROUTE, Buffer.alloc(11))).toBeNull();
    expect(decodeMessage(3 /* NLMSG_DONE */, Buffer.alloc(16))).toBeNull();
    // A truncated attribute ends the walk instead of reading past the payload.
    const cut = decoded(RTM.NEWRULE, RULE_FWMARK.subarray(0, RULE_FWMARK.length - 2));
    expect(cut.attrs.has(16)).toBe(false);
    expect(cut.attrs.get(10)?.readUInt32LE(0)).toBe(0x10000);
  });
});
