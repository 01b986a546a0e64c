import { describe, expect, it } from 'vitest';
import type { BearerLinkInput } from '../../../../../daemon/adapters/rtnetlink/bearer.js';
import {
  type AddressFlagsRecord,
  type AddressRecord,
  addressMethod,
  addressScope,
  decodeRtMessage,
  isUsableAddress,
  type LinkRecord,
  linkInfoKind,
  parseMultipath,
  type RouteRecord,
  type RtChange,
} from '../../../../../daemon/adapters/rtnetlink/link-records.js';
import { LinkTable, sameFacts } from '../../../../../daemon/adapters/rtnetlink/link-table.js';
import { formatIPv6, formatMac } from '../../../../../daemon/adapters/rtnetlink/messages/addresses.js';
import { NLM_F_REPLACE, RTM } from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';
import type { LinkFacts } from '../../../../../daemon/core/services.js';
import type { Bearer } from '../../../../../lib/protocol.js';

// ---------------------------------------------------------------------------------------------
// Raw message builders: bytes as the kernel sends them, then decoded.
// ---------------------------------------------------------------------------------------------

function attr(type: number, data: Uint8Array): Buffer {
  const len = 4 + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  Buffer.from(data).copy(b, 4);
  return b;
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const str = (s: string) => Buffer.from(`${s}\0`);
const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));
const ip6 = (s: string) => {
  // Only the forms used below: "a:b::c".
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
};

const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_SLAVE = 0x800;
const IFF_LOWER_UP = 0x10000;

function linkMsg(o: {
  family?: number;
  type?: number;
  index: number;
  flags: number;
  name?: string;
  mtu?: number;
  mac?: number[];
  kind?: string;
  operstate?: number;
  master?: number;
  wireless?: boolean;
}) {
  const head = Buffer.alloc(16);
  head.writeUInt8(o.family ?? 0, 0);
  head.writeUInt16LE(o.type ?? 1, 2);
  head.writeInt32LE(o.index, 4);
  head.writeUInt32LE(o.flags, 8);
  const attrs: Buffer[] = [];
  if (o.wireless) attrs.push(attr(11, Buffer.alloc(8)));
  if (o.mac) attrs.push(attr(1, Buffer.from(o.mac)));
  if (o.name !== undefined) attrs.push(attr(3, str(o.name)));
  if (o.mtu !== undefined) attrs.push(attr(4, u32(o.mtu)));
  if (o.master !== undefined) attrs.push(attr(10, u32(o.master)));
  if (o.operstate !== undefined) attrs.push(attr(16, Buffer.from([o.operstate])));
  if (o.kind !== undefined) attrs.push(attr(18, attr(1, str(o.kind))));
  return Buffer.concat([head, ...attrs]);
}

function addrMsg(o: {
  family: 2 | 10;
  index: number;
  address: Buffer;
  prefixlen: number;
  scope?: number;
  flags: number;
  ifaFlags?: number;
}) {
  const head = Buffer.alloc(8);
  head.writeUInt8(o.family, 0);
  head.writeUInt8(o.prefixlen, 1);
  head.writeUInt8(o.flags & 0xff, 2);
  head.writeUInt8(o.scope ?? 0, 3);
  head.writeUInt32LE(o.index, 4);
  const attrs = [attr(1, o.address)];
  if (o.family === 2) attrs.push(attr(2, o.address));
  if (o.ifaFlags !== undefined) attrs.push(attr(8, u32(o.ifaFlags)));
  return Buffer.concat([head, ...attrs]);
}

function routeMsg(o: {
  family: 2 | 10;
  dstLen?: number;
  table?: number;
  type?: number;
  oif?: number;
  gateway?: Buffer;
  priority?: number;
  multipath?: Buffer;
}) {
  const head = Buffer.alloc(12);
  head.writeUInt8(o.family, 0);
  head.writeUInt8(o.dstLen ?? 0, 1);
  head.writeUInt8(Math.min(o.table ?? 254, 255), 4);
  head.writeUInt8(4 /* static */, 5);
  head.writeUInt8(0, 6);
  head.writeUInt8(o.type ?? 1, 7);
  const attrs: Buffer[] = [attr(15, u32(o.table ?? 254))];
  if (o.oif !== undefined) attrs.push(attr(4, u32(o.oif)));
  if (o.gateway) attrs.push(attr(5, o.gateway));
  if (o.priority !== undefined) attrs.push(attr(6, u32(o.priority)));
  if (o.multipath) attrs.push(attr(9, o.multipath));
  return Buffer.concat([head, ...attrs]);
}

function rtnh(ifindex: number, gateway: Buffer | null): Buffer {
  const attrs = gateway ? attr(5, gateway) : Buffer.alloc(0);
  const b = Buffer.alloc(8);
  b.writeUInt16LE(8 + attrs.length, 0);
  b.writeInt32LE(ifindex, 4);
  return Buffer.concat([b, attrs]);
}

// ---------------------------------------------------------------------------------------------
// Record builders for the table tests
// ---------------------------------------------------------------------------------------------

function linkRec(over: Partial<LinkRecord> = {}): LinkRecord {
  return {
    ifindex: 2,
    name: 'eth0',
    kind: '',
    arphrd: 1,
    mac: '02:00:00:00:00:02',
    mtu: 1500,
    adminUp: true,
    carrier: true,
    loopback: false,
    enslaved: false,
    ...over,
  };
}
const PERM: AddressFlagsRecord = { permanent: true, tentative: false, dadfailed: false, secondary: false };
function addrRec(over: Partial<AddressRecord> & { address: string }): AddressRecord {
  return { ifindex: 2, family: 4, prefixLength: 24, scope: 0, flags: PERM, ...over };
}
function routeRec(over: Partial<RouteRecord> = {}): RouteRecord {
  return {
    family: 4,
    table: 254,
    dstLen: 0,
    srcLen: 0,
    tos: 0,
    type: 1,
    metric: 100,
    cloned: false,
    nexthops: [{ ifindex: 2, gateway: '198.51.100.1' }],
    ...over,
  };
}
const newLink = (over: Partial<LinkRecord> = {}): RtChange => ({ op: 'new-link', link: linkRec(over) });
const newAddr = (a: Parameters<typeof addrRec>[0]): RtChange => ({ op: 'new-address', address: addrRec(a) });
const delAddr = (a: Parameters<typeof addrRec>[0]): RtChange => ({ op: 'del-address', address: addrRec(a) });
const newRoute = (over: Partial<RouteRecord> = {}, replace = false): RtChange => ({
  op: 'new-route',
  route: routeRec(over),
  replace,
});
const delRoute = (over: Partial<RouteRecord> = {}): RtChange => ({ op: 'del-route', route: routeRec(over) });

function tableWith(changes: RtChange[], decide: (l: BearerLinkInput) => Bearer | null = () => 'ethernet') {
  const t = new LinkTable(decide);
  for (const c of changes) t.apply(c);
  t.commit();
  return t;
}

function onlyFacts(events: ReturnType<LinkTable['flush']>): LinkFacts {
  expect(events).toHaveLength(1);
  const e = events[0];
  if (e?.type !== 'link') throw new Error(`expected a link event, got ${JSON.stringify(e)}`);
  return e.facts;
}

// ---------------------------------------------------------------------------------------------

describe('formatting helpers', () => {
  it('formats IPv6 per RFC 5952', () => {
    expect(formatIPv6(Buffer.alloc(16))).toBe('::');
    expect(formatIPv6(ip6('::1'))).toBe('::1');
    expect(formatIPv6(ip6('2001:db8::1'))).toBe('2001:db8::1');
    expect(formatIPv6(ip6('fe80::d054:a6ff:fe58:3f9e'))).toBe('fe80::d054:a6ff:fe58:3f9e');
    // A single zero group is not compressed; of two equal runs the first one is.
    expect(formatIPv6(ip6('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIPv6(ip6('2001:0:0:1:0:0:1:1'))).toBe('2001::1:0:0:1:1');
    // The longest run wins over an earlier shorter one.
    expect(formatIPv6(ip6('2001:0:0:1:0:0:0:1'))).toBe('2001:0:0:1::1');
    expect(formatIPv6(ip6('2001:db8::'))).toBe('2001:db8::');
  });

  it('formats MAC addresses and treats all-zero or odd lengths as none', () => {
    expect(formatMac(Buffer.from([0x02, 0xab, 0, 1, 0x0c, 0xff]))).toBe('02:ab:00:01:0c:ff');
    expect(formatMac(Buffer.alloc(6))).toBe('');
    expect(formatMac(Buffer.from([1, 2, 3, 4]))).toBe('');
    expect(formatMac(undefined)).toBe('');
  });

  it('finds IFLA_INFO_KIND in a link-info nest and next hops in RTA_MULTIPATH', () => {
    expect(linkInfoKind(Buffer.concat([attr(2, u32(7)), attr(1, str('wireguard'))]))).toBe('wireguard');
    expect(linkInfoKind(attr(2, u32(7)))).toBe('');
    expect(linkInfoKind(undefined)).toBe('');
    expect(
      parseMultipath(4, Buffer.concat([rtnh(2, ip4('198.51.100.1')), rtnh(3, ip4('203.0.113.1')), rtnh(4, null)])),
    ).toEqual([
      { ifindex: 2, gateway: '198.51.100.1' },
      { ifindex: 3, gateway: '203.0.113.1' },
      { ifindex: 4, gateway: '' },
    ]);
  });
});

describe('decoding link, address and route messages', () => {
  it('decodes a link: name, kind, type, mac, mtu, admin state and carrier', () => {
    const c = decodeRtMessage(
      RTM.NEWLINK,
      0,
      linkMsg({
        index: 3,
        flags: IFF_UP | IFF_LOWER_UP,
        name: 'va',
        mtu: 1400,
        mac: [2, 0, 0, 0, 0, 9],
        kind: 'veth',
        operstate: 6,
      }),
    );
    expect(c).toEqual({
      op: 'new-link',
      link: {
        ifindex: 3,
        name: 'va',
        kind: 'veth',
        arphrd: 1,
        mac: '02:00:00:00:00:09',
        mtu: 1400,
        adminUp: true,
        carrier: true,
        loopback: false,
        enslaved: false,
      },
    });
  });

  it('carrier is IFF_LOWER_UP or operstate UP, and never while administratively down', () => {
    const carrierOf = (flags: number, operstate?: number) => {
      const c = decodeRtMessage(RTM.NEWLINK, 0, linkMsg({ index: 3, flags, name: 'x', operstate }));
      return c?.op === 'new-link' ? c.link.carrier : undefined;
    };
    expect(carrierOf(IFF_UP | IFF_LOWER_UP, 2 /* down */)).toBe(true);
    expect(carrierOf(IFF_UP, 6)).toBe(true);
    expect(carrierOf(IFF_UP, 5 /* dormant */)).toBe(false);
    expect(carrierOf(IFF_UP)).toBe(false);
    expect(carrierOf(IFF_LOWER_UP, 6)).toBe(false);
  });

  it('knows loopback, enslaved links and numeric hardware types', () => {
    const lo = decodeRtMessage(
      RTM.NEWLINK,
      0,
      linkMsg({ index: 1, type: 772, flags: IFF_UP | IFF_LOOPBACK, name: 'lo' }),
    );
    expect(lo?.op === 'new-link' && lo.link).toMatchObject({ loopback: true, arphrd: 772, mac: '' });
    const port = decodeRtMessage(RTM.NEWLINK, 0, linkMsg({ index: 4, flags: IFF_UP, name: 'p', master: 9 }));
    expect(port?.op === 'new-link' && port.link.enslaved).toBe(true);
    const slave = decodeRtMessage(RTM.NEWLINK, 0, linkMsg({ index: 5, flags: IFF_UP | IFF_SLAVE, name: 's' }));
    expect(slave?.op === 'new-link' && slave.link.enslaved).toBe(true);
    const wg = decodeRtMessage(
      RTM.NEWLINK,
      0,
      linkMsg({ index: 6, type: 65534, flags: IFF_UP, name: 'wg0', kind: 'wireguard' }),
    );
    expect(wg?.op === 'new-link' && wg.link).toMatchObject({ arphrd: 65534, kind: 'wireguard' });
  });

  it('DELLINK names the link; AF_BRIDGE port messages and wireless events are ignored', () => {
    const del = Buffer.from(linkBytes(7));
    expect(decodeRtMessage(RTM.DELLINK, 0, del)).toEqual({ op: 'del-link', ifindex: 7 });
    expect(decodeRtMessage(RTM.DELLINK, 0, linkMsg({ family: 7, index: 7, flags: IFF_UP, name: 'p' }))).toBeNull();
    expect(decodeRtMessage(RTM.NEWLINK, 0, linkMsg({ family: 7, index: 7, flags: IFF_UP, name: 'p' }))).toBeNull();
    expect(
      decodeRtMessage(RTM.NEWLINK, 0, linkMsg({ index: 7, flags: IFF_UP, name: 'wlan0', wireless: true })),
    ).toBeNull();
  });

  it('decodes v4 and v6 addresses with flags, preferring IFA_FLAGS over ifa_flags', () => {
    const v4 = decodeRtMessage(
      RTM.NEWADDR,
      0,
      addrMsg({ family: 2, index: 3, address: ip4('198.51.100.2'), prefixlen: 24, flags: 0x01 }),
    );
    expect(v4).toEqual({
      op: 'new-address',
      address: {
        ifindex: 3,
        family: 4,
        address: '198.51.100.2',
        prefixLength: 24,
        scope: 0,
        flags: { permanent: false, tentative: false, dadfailed: false, secondary: true },
      },
    });
    const v6 = decodeRtMessage(
      RTM.NEWADDR,
      0,
      addrMsg({ family: 10, index: 3, address: ip6('2001:db8::2'), prefixlen: 64, flags: 0, ifaFlags: 0x40 | 0x80 }),
    );
    expect(v6?.op === 'new-address' && v6.address).toMatchObject({
      family: 6,
      address: '2001:db8::2',
      flags: { permanent: true, tentative: true },
    });
    const del = addrPayload(2, 3, ip4('198.51.100.2'), 24);
    expect(decodeRtMessage(RTM.DELADDR, 0, del)?.op).toBe('del-address');
  });

  it('decodes routes: gateway, oif, metric, table, multipath, and the REPLACE flag', () => {
    const r = decodeRtMessage(
      RTM.NEWROUTE,
      NLM_F_REPLACE,
      routeMsg({ family: 2, oif: 3, gateway: ip4('198.51.100.1'), priority: 50 }),
    );
    expect(r).toEqual({
      op: 'new-route',
      replace: true,
      route: {
        family: 4,
        table: 254,
        dstLen: 0,
        srcLen: 0,
        tos: 0,
        type: 1,
        metric: 50,
        cloned: false,
        nexthops: [{ ifindex: 3, gateway: '198.51.100.1' }],
      },
    });
    const onlink = decodeRtMessage(RTM.NEWROUTE, 0, routeMsg({ family: 10, oif: 4, table: 1000 }));
    expect(onlink?.op === 'new-route' && onlink.route).toMatchObject({
      family: 6,
      table: 1000,
      metric: 0,
      nexthops: [{ ifindex: 4, gateway: '' }],
    });
    const mp = decodeRtMessage(
      RTM.NEWROUTE,
      0,
      routeMsg({
        family: 10,
        priority: 1024,
        multipath: Buffer.concat([rtnh(3, ip6('2001:db8::1')), rtnh(4, ip6('2001:db8:1::1'))]),
      }),
    );
    expect(mp?.op === 'new-route' && mp.route.nexthops).toEqual([
      { ifindex: 3, gateway: '2001:db8::1' },
      { ifindex: 4, gateway: '2001:db8:1::1' },
    ]);
    const unreachable = decodeRtMessage(RTM.NEWROUTE, 0, routeMsg({ family: 2, type: 7 }));
    expect(unreachable?.op === 'new-route' && unreachable.route).toMatchObject({ type: 7, nexthops: [] });
  });

  it('ignores message types it does not fold', () => {
    expect(decodeRtMessage(32 /* NEWRULE */, 0, linkMsg({ index: 1, flags: 0, name: 'x' }))).toBeNull();
  });
});

function linkBytes(index: number): Buffer {
  const head = Buffer.alloc(16);
  head.writeInt32LE(index, 4);
  return Buffer.concat([head, attr(3, str('gone'))]);
}
function addrPayload(family: number, index: number, address: Buffer, prefixlen: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt8(family, 0);
  head.writeUInt8(prefixlen, 1);
  head.writeUInt32LE(index, 4);
  return Buffer.concat([head, attr(1, address), attr(2, address)]);
}

describe('address decisions', () => {
  const f = (o: Partial<AddressFlagsRecord>): AddressFlagsRecord => ({ ...PERM, permanent: false, ...o });

  it('permanent addresses are manual; leases are dhcp (v4) or auto (v6)', () => {
    expect(addressMethod(4, f({ permanent: true }))).toBe('manual');
    expect(addressMethod(6, f({ permanent: true }))).toBe('manual');
    expect(addressMethod(4, f({}))).toBe('dhcp');
    expect(addressMethod(6, f({}))).toBe('auto');
    expect(addressMethod(6, f({ secondary: true }))).toBe('auto');
  });

  it('maps ifa_scope to global, link and host', () => {
    expect(addressScope(0)).toBe('global');
    expect(addressScope(200)).toBe('global');
    expect(addressScope(253)).toBe('link');
    expect(addressScope(254)).toBe('host');
    expect(addressScope(255)).toBe('host');
  });

  it('tentative and DAD-failed addresses are not usable', () => {
    expect(isUsableAddress(f({}))).toBe(true);
    expect(isUsableAddress(f({ tentative: true }))).toBe(false);
    expect(isUsableAddress(f({ dadfailed: true }))).toBe(false);
  });
});

describe('LinkTable', () => {
  it('commits the initial facts of every link in ifindex order', () => {
    const t = new LinkTable((l) => (l.loopback ? null : 'ethernet'));
    t.apply(newLink({ ifindex: 3, name: 'eth1' }));
    t.apply(newLink({ ifindex: 1, name: 'lo', loopback: true, arphrd: 772, mac: '' }));
    t.apply(newAddr({ ifindex: 3, address: '198.51.100.2' }));
    t.apply(newAddr({ ifindex: 3, family: 6, address: '2001:db8::2', prefixLength: 64 }));
    t.apply(newRoute({ nexthops: [{ ifindex: 3, gateway: '198.51.100.1' }] }));
    const all = t.commit();
    expect(all.map((l) => l.ifindex)).toEqual([1, 3]);
    expect(all[1]).toEqual({
      ifindex: 3,
      name: 'eth1',
      kind: '',
      mac: '02:00:00:00:00:02',
      bearer: 'ethernet',
      adminUp: true,
      carrier: true,
      mtu: 1500,
      addresses: [
        { family: 4, address: '198.51.100.2', prefixLength: 24, method: 'manual', scope: 'global' },
        { family: 6, address: '2001:db8::2', prefixLength: 64, method: 'manual', scope: 'global' },
      ],
      gateways: [{ family: 4, gateway: '198.51.100.1', metric: 100 }],
      nameservers: [],
    });
    expect(all[0]?.bearer).toBeNull();
    expect(t.flush()).toEqual([]);
  });

  it('reports an added and a removed address, and nothing for a repeated notification', () => {
    const t = tableWith([newLink()]);
    t.apply(newAddr({ address: '198.51.100.9' }));
    expect(onlyFacts(t.flush()).addresses.map((a) => a.address)).toEqual(['198.51.100.9']);
    t.apply(newAddr({ address: '198.51.100.9' }));
    expect(t.flush()).toEqual([]);
    t.apply(delAddr({ address: '198.51.100.9' }));
    expect(onlyFacts(t.flush()).addresses).toEqual([]);
    t.apply(delAddr({ address: '198.51.100.9' }));
    expect(t.flush()).toEqual([]);
  });

  it('reports a lease renewal only when the method changes (lifetime refreshes cost nothing)', () => {
    const lease = { ...PERM, permanent: false };
    const t = tableWith([newLink(), newAddr({ address: '198.51.100.9', flags: lease })]);
    t.apply(newAddr({ address: '198.51.100.9', flags: lease }));
    expect(t.flush()).toEqual([]);
    t.apply(newAddr({ address: '198.51.100.9', flags: PERM }));
    expect(onlyFacts(t.flush()).addresses[0]?.method).toBe('manual');
  });

  it('keeps primary addresses before secondaries and updates in place', () => {
    const sec = { ...PERM, secondary: true };
    const t = tableWith([
      newLink(),
      newAddr({ address: '198.51.100.8', flags: sec }),
      newAddr({ address: '198.51.100.2' }),
    ]);
    expect(t.get(2)?.addresses.map((a) => a.address)).toEqual(['198.51.100.2', '198.51.100.8']);
    // The primary goes and the secondary is promoted (the kernel re-announces it without the flag).
    t.apply(delAddr({ address: '198.51.100.2' }));
    t.apply(newAddr({ address: '198.51.100.8' }));
    expect(onlyFacts(t.flush()).addresses.map((a) => a.address)).toEqual(['198.51.100.8']);
  });

  it('keeps tentative v6 addresses out until DAD completes, and drops DAD failures', () => {
    const tentative = { ...PERM, tentative: true };
    const t = tableWith([newLink()]);
    t.apply(newAddr({ family: 6, address: '2001:db8::5', prefixLength: 64, flags: tentative }));
    expect(t.flush()).toEqual([]);
    t.apply(newAddr({ family: 6, address: '2001:db8::5', prefixLength: 64 }));
    expect(onlyFacts(t.flush()).addresses.map((a) => a.address)).toEqual(['2001:db8::5']);
    t.apply(
      newAddr({
        family: 6,
        address: '2001:db8::5',
        prefixLength: 64,
        flags: { ...PERM, dadfailed: true, tentative: true },
      }),
    );
    expect(onlyFacts(t.flush()).addresses).toEqual([]);
  });

  it('reports carrier loss and return, and nothing for an identical link notification', () => {
    const t = tableWith([newLink()]);
    t.apply(newLink({ carrier: false }));
    expect(onlyFacts(t.flush()).carrier).toBe(false);
    t.apply(newLink({ carrier: false }));
    expect(t.flush()).toEqual([]);
    t.apply(newLink({ carrier: true }));
    expect(onlyFacts(t.flush()).carrier).toBe(true);
  });

  it('adds and removes default gateways of the main table', () => {
    const t = tableWith([newLink(), newAddr({ address: '198.51.100.2' })]);
    t.apply(newRoute({ metric: 300 }));
    expect(onlyFacts(t.flush()).gateways).toEqual([{ family: 4, gateway: '198.51.100.1', metric: 300 }]);
    t.apply(newRoute({ family: 6, metric: 1024, nexthops: [{ ifindex: 2, gateway: 'fe80::1' }] }));
    expect(onlyFacts(t.flush()).gateways).toEqual([
      { family: 4, gateway: '198.51.100.1', metric: 300 },
      { family: 6, gateway: 'fe80::1', metric: 1024 },
    ]);
    t.apply(delRoute({ metric: 300 }));
    expect(onlyFacts(t.flush()).gateways).toEqual([{ family: 6, gateway: 'fe80::1', metric: 1024 }]);
    // Deleting what is not there, or a same-key route through another gateway, changes nothing.
    t.apply(delRoute({ metric: 300 }));
    t.apply(delRoute({ family: 6, metric: 1024, nexthops: [{ ifindex: 2, gateway: 'fe80::2' }] }));
    expect(t.flush()).toEqual([]);
  });

  it('ignores other tables, non-default prefixes, source-specific, non-unicast and cloned routes', () => {
    const t = tableWith([newLink()]);
    t.apply(newRoute({ table: 1000 }));
    t.apply(newRoute({ dstLen: 24 }));
    t.apply(newRoute({ srcLen: 64, family: 6 }));
    t.apply(newRoute({ type: 6 /* blackhole */ }));
    t.apply(newRoute({ cloned: true }));
    expect(t.flush()).toEqual([]);
  });

  it('keeps an on-link default route as a gateway with an empty address', () => {
    const t = tableWith([newLink({ arphrd: 65534, kind: 'wireguard' })]);
    t.apply(newRoute({ nexthops: [{ ifindex: 2, gateway: '' }], metric: 0 }));
    expect(onlyFacts(t.flush()).gateways).toEqual([{ family: 4, gateway: '', metric: 0 }]);
  });

  it('a replace moves the default route to another link', () => {
    const t = tableWith([
      newLink({ ifindex: 2, name: 'a' }),
      newLink({ ifindex: 3, name: 'b' }),
      newRoute({ metric: 0 }),
    ]);
    t.apply(newRoute({ metric: 0, nexthops: [{ ifindex: 3, gateway: '203.0.113.1' }] }, true));
    const events = t.flush();
    expect(events).toHaveLength(2);
    const byIndex = new Map(events.map((e) => [e.type === 'link' ? e.facts.ifindex : -1, e]));
    expect(byIndex.get(2)).toMatchObject({ type: 'link', facts: { gateways: [] } });
    expect(byIndex.get(3)).toMatchObject({
      type: 'link',
      facts: { gateways: [{ family: 4, gateway: '203.0.113.1', metric: 0 }] },
    });
  });

  it('a replace by an unreachable route removes the gateway', () => {
    const t = tableWith([newLink(), newRoute({ metric: 0 })]);
    t.apply(newRoute({ metric: 0, type: 7, nexthops: [] }, true));
    expect(onlyFacts(t.flush()).gateways).toEqual([]);
  });

  it('spreads a multipath default over its links and removes it as a whole', () => {
    const nexthops = [
      { ifindex: 2, gateway: '198.51.100.1' },
      { ifindex: 3, gateway: '203.0.113.1' },
    ];
    const t = tableWith([newLink({ ifindex: 2, name: 'a' }), newLink({ ifindex: 3, name: 'b' })]);
    t.apply(newRoute({ metric: 10, nexthops }));
    expect(t.flush()).toHaveLength(2);
    expect(t.get(3)?.gateways).toEqual([{ family: 4, gateway: '203.0.113.1', metric: 10 }]);
    t.apply(delRoute({ metric: 10, nexthops: [] }));
    expect(t.flush()).toHaveLength(2);
    expect(t.get(2)?.gateways).toEqual([]);
    expect(t.get(3)?.gateways).toEqual([]);
  });

  it('drops IPv4 (not IPv6) gateways when the link goes down, as the kernel does silently', () => {
    const t = tableWith([
      newLink(),
      newAddr({ address: '198.51.100.2' }),
      newRoute(),
      newRoute({ family: 6, metric: 1024, nexthops: [{ ifindex: 2, gateway: 'fe80::1' }] }),
    ]);
    t.apply(newLink({ adminUp: false, carrier: false }));
    const facts = onlyFacts(t.flush());
    expect(facts.adminUp).toBe(false);
    expect(facts.gateways).toEqual([{ family: 6, gateway: 'fe80::1', metric: 1024 }]);
  });

  it('drops IPv4 gateways when the last IPv4 address goes, not before', () => {
    const t = tableWith([
      newLink(),
      newAddr({ address: '198.51.100.2' }),
      newAddr({ address: '203.0.113.2' }),
      newRoute(),
    ]);
    t.apply(delAddr({ address: '198.51.100.2' }));
    expect(onlyFacts(t.flush()).gateways).toHaveLength(1);
    t.apply(delAddr({ address: '203.0.113.2' }));
    const facts = onlyFacts(t.flush());
    expect(facts.addresses).toEqual([]);
    expect(facts.gateways).toEqual([]);
  });

  it('a rename changes the name and decides the bearer again; other changes do not', () => {
    const asked: string[] = [];
    const t = tableWith([newLink({ name: 'eth0' })], (l) => {
      asked.push(l.name);
      return l.name.startsWith('wwan') ? 'cellular' : 'ethernet';
    });
    t.apply(newLink({ name: 'eth0', mtu: 1400 }));
    expect(onlyFacts(t.flush()).mtu).toBe(1400);
    expect(asked).toEqual(['eth0']);
    t.apply(newLink({ name: 'wwan0', mtu: 1400 }));
    const facts = onlyFacts(t.flush());
    expect(facts).toMatchObject({ name: 'wwan0', bearer: 'cellular' });
    expect(asked).toEqual(['eth0', 'wwan0']);
  });

  it('reports link-removed once, and nothing for a link never reported', () => {
    const t = tableWith([newLink(), newAddr({ address: '198.51.100.2' }), newRoute()]);
    t.apply({ op: 'del-link', ifindex: 2 });
    expect(t.flush()).toEqual([{ type: 'link-removed', ifindex: 2 }]);
    t.apply({ op: 'del-link', ifindex: 2 });
    t.apply({ op: 'del-link', ifindex: 9 });
    expect(t.flush()).toEqual([]);
    // A new link reusing the index starts clean.
    t.apply(newLink({ name: 'eth9' }));
    expect(onlyFacts(t.flush())).toMatchObject({ name: 'eth9', addresses: [], gateways: [] });
  });

  it('a link created and deleted between two flushes reports nothing', () => {
    const t = tableWith([]);
    t.apply(newLink({ ifindex: 5 }));
    t.apply({ op: 'del-link', ifindex: 5 });
    expect(t.flush()).toEqual([]);
  });

  it('replaying notifications that a dump already reflects converges to the kernel state', () => {
    // The kernel: X was deleted then added again, Y added then deleted; the dump ran after both.
    const dump = [newLink(), newAddr({ address: '198.51.100.10' })];
    const held = [
      delAddr({ address: '198.51.100.10' }),
      newAddr({ address: '198.51.100.10' }),
      newAddr({ address: '198.51.100.11' }),
      delAddr({ address: '198.51.100.11' }),
    ];
    const t = new LinkTable(() => 'ethernet');
    for (const c of [...dump, ...held]) t.apply(c);
    expect(t.commit()[0]?.addresses.map((a) => a.address)).toEqual(['198.51.100.10']);
  });

  it('after reset and a re-dump, reports only the differences, removals included', () => {
    const t = tableWith([
      newLink({ ifindex: 2, name: 'a' }),
      newLink({ ifindex: 3, name: 'b' }),
      newLink({ ifindex: 4, name: 'c' }),
    ]);
    t.reset();
    t.apply(newLink({ ifindex: 2, name: 'a' }));
    t.apply(newLink({ ifindex: 3, name: 'b', carrier: false }));
    t.apply(newLink({ ifindex: 5, name: 'd' }));
    const events = t.flush();
    expect(events).toContainEqual({ type: 'link-removed', ifindex: 4 });
    expect(events.filter((e) => e.type === 'link').map((e) => (e.type === 'link' ? e.facts.name : ''))).toEqual([
      'b',
      'd',
    ]);
    expect(events).toHaveLength(3);
  });

  it('addresses seen before their link appear with it', () => {
    const t = tableWith([]);
    t.apply(newAddr({ ifindex: 6, address: '198.51.100.6' }));
    expect(t.flush()).toEqual([]);
    t.apply(newLink({ ifindex: 6, name: 'late' }));
    expect(onlyFacts(t.flush()).addresses.map((a) => a.address)).toEqual(['198.51.100.6']);
  });

  it('never mutates facts it already reported', () => {
    const t = tableWith([newLink()]);
    const before = t.commit()[0] as LinkFacts;
    const snapshot = JSON.stringify(before);
    t.apply(newAddr({ address: '198.51.100.2' }));
    t.apply(newRoute());
    t.flush();
    expect(JSON.stringify(before)).toBe(snapshot);
  });
});

describe('sameFacts', () => {
  const base: LinkFacts = {
    ifindex: 2,
    name: 'eth0',
    kind: '',
    mac: '',
    bearer: 'ethernet',
    adminUp: true,
    carrier: true,
    mtu: 1500,
    addresses: [{ family: 4, address: '198.51.100.2', prefixLength: 24, method: 'manual', scope: 'global' }],
    gateways: [{ family: 4, gateway: '198.51.100.1', metric: 0 }],
    nameservers: [],
  };
  it('is true for equal values and false for any single difference', () => {
    expect(sameFacts(base, structuredClone(base))).toBe(true);
    const variants: LinkFacts[] = [
      { ...base, name: 'eth1' },
      { ...base, bearer: 'wifi' },
      { ...base, carrier: false },
      { ...base, mtu: 1400 },
      { ...base, addresses: [{ ...base.addresses[0]!, method: 'dhcp' }] },
      { ...base, addresses: [] },
      { ...base, gateways: [{ family: 4, gateway: '198.51.100.1', metric: 5 }] },
      { ...base, nameservers: ['198.51.100.53'] },
    ];
    for (const v of variants) expect(sameFacts(base, v)).toBe(false);
  });
});
