import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NetlinkSocketError } from '../../../../../daemon/adapters/netlink/request-socket.js';
import {
  errorCode,
  type RtnlClient,
  RtnlError,
  type RtRequest,
} from '../../../../../daemon/adapters/rtnetlink/client.js';
import { addressBytes } from '../../../../../daemon/adapters/rtnetlink/messages/addresses.js';
import {
  type Attrs,
  type RouteMessage,
  type RtKind,
  type RtMessage,
  type RuleMessage,
  u32,
} from '../../../../../daemon/adapters/rtnetlink/messages/codec.js';
import {
  FRA,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RTA,
  RTM,
  RTM_F_CLONED,
  RTNH_F_ONLINK,
  RTPROT_NETSESSION,
} from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';
import {
  addRouteMessage,
  decodeTableRoute,
  delRouteMessage,
  type KernelRoute,
  routeKey,
} from '../../../../../daemon/adapters/rtnetlink/routes.js';
import { createRtnetlinkRouting, RoutingApplyError } from '../../../../../daemon/adapters/rtnetlink/routing.js';
import type { RoutingOp } from '../../../../../daemon/adapters/rtnetlink/routing-plan.js';
import {
  isOurRule,
  type KernelSnapshot,
  normaliseDesired,
  planRouting,
} from '../../../../../daemon/adapters/rtnetlink/routing-plan.js';
import { managedInterfaces, rpFilterToWrite } from '../../../../../daemon/adapters/rtnetlink/routing-sysctls.js';
import {
  addRuleMessage,
  decodeRule,
  delRuleMessage,
  type KernelRule,
  ruleKey,
} from '../../../../../daemon/adapters/rtnetlink/rules.js';
import { isSysctlIfname } from '../../../../../daemon/adapters/rtnetlink/sysctl-paths.js';
import { createProcSysctl } from '../../../../../daemon/adapters/system/proc-sysctl.js';
import type { PolicyRule, RoutingState, TableRoute } from '../../../../../daemon/core/kernel-state-types.js';

const OWN = { tableRange: { start: 10000, end: 10999 }, priorityRange: { start: 10000, end: 10999 } };
const MASK = 0x0fff0000;

// ---------------------------------------------------------------------------------------------
// Dump-shaped messages, as the codec decodes what the kernel sends (shapes taken from a real
// dump: tables above 255 come with rtm_table = 252 and the id in the attribute).
// ---------------------------------------------------------------------------------------------

const ip = (family: 4 | 6, s: string): Buffer => {
  const b = addressBytes(family, s);
  if (!b) throw new Error(`bad address ${s}`);
  return b;
};

interface RuleOpts {
  mark?: number;
  mask?: number;
  src?: string;
  srcLen?: number;
  protocol?: number;
  iifname?: string;
}

function kRule(family: 4 | 6, priority: number, table: number, o: RuleOpts = {}): RuleMessage {
  const attrs: Attrs = new Map([
    [FRA.TABLE, u32(table)],
    [FRA.SUPPRESS_PREFIXLEN, Buffer.from('ffffffff', 'hex')],
    [FRA.PROTOCOL, Buffer.from([o.protocol ?? RTPROT_NETSESSION])],
    [FRA.PRIORITY, u32(priority)],
  ]);
  if (o.mark !== undefined) {
    attrs.set(FRA.FWMARK, u32(o.mark));
    attrs.set(FRA.FWMASK, u32(o.mask ?? 0xffffffff));
  }
  if (o.src) attrs.set(FRA.SRC, ip(family, o.src));
  if (o.iifname) attrs.set(FRA.IIFNAME, Buffer.from(`${o.iifname}\0`));
  return {
    kind: 'rule',
    family: family === 4 ? 2 : 10,
    dstLen: 0,
    srcLen: o.srcLen ?? (o.src ? (family === 4 ? 32 : 128) : 0),
    tos: 0,
    table: table > 255 ? 252 : table,
    action: 1,
    flags: 0,
    attrs,
  };
}

interface RouteOpts {
  dst?: string;
  dstLen?: number;
  gw?: string;
  oif: number;
  metric?: number;
  onlink?: boolean;
  scope?: number;
  protocol?: number;
  cloned?: boolean;
}

const RTPROT_BOOT = 3;

function kRoute(family: 4 | 6, table: number, o: RouteOpts): RouteMessage {
  const attrs: Attrs = new Map([
    [RTA.TABLE, u32(table)],
    [RTA.OIF, u32(o.oif)],
  ]);
  if (o.dst) attrs.set(RTA.DST, ip(family, o.dst));
  if (o.gw) attrs.set(RTA.GATEWAY, ip(family, o.gw));
  const metric = o.metric ?? (family === 6 ? 1024 : 0);
  if (metric) attrs.set(RTA.PRIORITY, u32(metric));
  return {
    kind: 'route',
    family: family === 4 ? 2 : 10,
    dstLen: o.dstLen ?? 0,
    srcLen: 0,
    tos: 0,
    table: table > 255 ? 252 : table,
    protocol: o.protocol ?? RTPROT_NETSESSION,
    scope: o.scope ?? (family === 4 && !o.gw ? RT_SCOPE_LINK : 0),
    type: 1,
    flags: (o.onlink ? RTNH_F_ONLINK : 0) | (o.cloned ? RTM_F_CLONED : 0),
    attrs,
  };
}

function snapshot(rules: RuleMessage[], routes: RouteMessage[]): KernelSnapshot {
  return {
    rules: rules.map((m) => decodeRule(m)).filter((r): r is KernelRule => r !== null),
    routes: routes.map((m) => decodeTableRoute(m)).filter((r): r is KernelRoute => r !== null),
  };
}

// ---------------------------------------------------------------------------------------------
// A desired state like the core computes it: eth-b (ifindex 12) and eth-c (13).
// ---------------------------------------------------------------------------------------------

const B = 12;
const C = 13;

function desiredState(): RoutingState {
  const routesB: TableRoute[] = [
    { family: 4, dst: '', dstLen: 0, gateway: '198.51.100.17', ifindex: B, table: 10001 },
    { family: 4, dst: '198.51.100.16', dstLen: 29, ifindex: B, table: 10001 },
    { family: 6, dst: '', dstLen: 0, gateway: '2001:db8:2::1', ifindex: B, table: 10001 },
    { family: 6, dst: '2001:db8:2::', dstLen: 64, ifindex: B, table: 10001 },
  ];
  const routesC: TableRoute[] = [
    { family: 4, dst: '', dstLen: 0, gateway: '198.51.100.25', ifindex: C, table: 10002 },
    { family: 4, dst: '198.51.100.24', dstLen: 29, ifindex: C, table: 10002 },
    { family: 6, dst: '', dstLen: 0, gateway: 'fe80::ff:fe00:103', ifindex: C, table: 10002 },
  ];
  const rules: PolicyRule[] = [
    { kind: 'source', family: 4, priority: 10001, src: '198.51.100.18', srcLen: 32, table: 10001 },
    { kind: 'source', family: 6, priority: 10001, src: '2001:db8:2::2', srcLen: 128, table: 10001 },
    { kind: 'fwmark', family: 4, priority: 10501, mark: 0x10000, mask: MASK, table: 10001 },
    { kind: 'fwmark', family: 6, priority: 10501, mark: 0x10000, mask: MASK, table: 10001 },
    { kind: 'fwmark', family: 4, priority: 10502, mark: 0x20000, mask: MASK, table: 10002 },
    { kind: 'fwmark', family: 6, priority: 10502, mark: 0x20000, mask: MASK, table: 10002 },
  ];
  return {
    services: [
      { serviceId: 'b', ifindex: B, ifname: 'eth-b', table: 10001, mark: 0x10000, routes: routesB },
      { serviceId: 'c', ifindex: C, ifname: 'eth-c', table: 10002, mark: 0x20000, routes: routesC },
    ],
    rules,
  };
}

/** The same state as the kernel reports it after it was applied. */
function kernelView(): { rules: RuleMessage[]; routes: RouteMessage[] } {
  return {
    rules: [
      kRule(4, 10001, 10001, { src: '198.51.100.18' }),
      kRule(4, 10501, 10001, { mark: 0x10000, mask: MASK }),
      kRule(4, 10502, 10002, { mark: 0x20000, mask: MASK }),
      kRule(6, 10001, 10001, { src: '2001:db8:2::2' }),
      kRule(6, 10501, 10001, { mark: 0x10000, mask: MASK }),
      kRule(6, 10502, 10002, { mark: 0x20000, mask: MASK }),
    ],
    routes: [
      kRoute(4, 10001, { gw: '198.51.100.17', oif: B }),
      kRoute(4, 10001, { dst: '198.51.100.16', dstLen: 29, oif: B }),
      kRoute(4, 10002, { gw: '198.51.100.25', oif: C }),
      kRoute(4, 10002, { dst: '198.51.100.24', dstLen: 29, oif: C }),
      kRoute(6, 10001, { dst: '2001:db8:2::', dstLen: 64, oif: B }),
      kRoute(6, 10001, { gw: '2001:db8:2::1', oif: B }),
      kRoute(6, 10002, { gw: 'fe80::ff:fe00:103', oif: C }),
    ],
  };
}

/** Kernel defaults and foreign entries that must never be touched. */
function foreign(): { rules: RuleMessage[]; routes: RouteMessage[] } {
  return {
    rules: [
      kRule(4, 0, 255, { protocol: 2 }),
      // Priority inside our range, table outside it.
      kRule(4, 10200, 500, { mark: 0x30000, mask: MASK, protocol: 3 }),
      // Table inside our range, priority outside it.
      kRule(4, 20000, 10050, { src: '198.51.100.26', protocol: 3 }),
      kRule(6, 10300, 501, { src: '2001:db8:3::2', protocol: 3 }),
      kRule(4, 32766, 254, { protocol: 2 }),
      kRule(6, 32766, 254, { protocol: 2 }),
    ],
    routes: [
      kRoute(4, 254, { gw: '198.51.100.9', oif: 11, metric: 100, protocol: RTPROT_BOOT }),
      kRoute(4, 500, { gw: '198.51.100.9', oif: 11, protocol: RTPROT_BOOT }),
      kRoute(4, 500, { dst: '203.0.113.0', dstLen: 24, gw: '198.51.100.9', oif: 11, protocol: RTPROT_BOOT }),
      kRoute(6, 254, { gw: '2001:db8:1::1', oif: 11, metric: 100, protocol: RTPROT_BOOT }),
    ],
  };
}

const opText = (o: RoutingOp): string =>
  o.kind === 'route' ? `${o.op} route ${routeKey(o.route)}` : `${o.op} rule ${ruleKey(o.rule)}`;

// ---------------------------------------------------------------------------------------------

describe('decoders', () => {
  it('decodes a dumped fwmark rule of a table above 255 (id from FRA_TABLE, not rtm_table)', () => {
    const r = decodeRule(kRule(4, 10501, 10001, { mark: 0x10000, mask: MASK }));
    expect(r).toMatchObject({
      family: 4,
      priority: 10501,
      table: 10001,
      action: 1,
      mark: 0x10000,
      mask: MASK,
      src: '',
      srcLen: 0,
      extra: '',
      protocol: 0x6e,
    });
  });

  it('reads a mark without FRA_FWMASK as mask 0xffffffff, and keeps extra selectors', () => {
    const m = kRule(4, 10501, 10001, { iifname: 'eth-b' });
    m.attrs.set(FRA.FWMARK, u32(7));
    expect(decodeRule(m)).toMatchObject({ mark: 7, mask: 0xffffffff, extra: 'iif eth-b' });
  });

  it('ignores IPMR rule families and canonicalises source addresses', () => {
    const ipmr = kRule(4, 32767, 253);
    ipmr.family = 128;
    expect(decodeRule(ipmr)).toBeNull();
    expect(decodeRule(kRule(6, 10001, 10001, { src: '2001:0db8:0:0::2' }))?.src).toBe('2001:db8::2');
  });

  it('decodes routes: v6 metric, onlink flag, link scope; drops cache clones', () => {
    expect(decodeTableRoute(kRoute(6, 10002, { gw: 'fe80::1', oif: C }))).toMatchObject({
      family: 6,
      table: 10002,
      dst: '',
      gateway: 'fe80::1',
      metric: 1024,
      ifindex: C,
      onlink: false,
      exotic: '',
    });
    expect(decodeTableRoute(kRoute(4, 10002, { gw: '203.0.113.1', oif: C, onlink: true }))?.onlink).toBe(true);
    expect(decodeTableRoute(kRoute(4, 10001, { dst: '198.51.100.16', dstLen: 29, oif: B }))).toMatchObject({
      scope: RT_SCOPE_LINK,
      dst: '198.51.100.16',
      dstLen: 29,
      protocol: 0x6e,
    });
    expect(decodeTableRoute(kRoute(6, 10001, { dst: '2001:db8::1', dstLen: 128, oif: B, cloned: true }))).toBeNull();
    expect(decodeTableRoute(kRoute(4, 254, { gw: '198.51.100.9', oif: 11, protocol: RTPROT_BOOT }))?.protocol).toBe(3);
  });

  it('marks multipath routes as exotic so they never equal a desired route', () => {
    const m = kRoute(4, 10001, { oif: B });
    m.attrs.delete(RTA.OIF);
    m.attrs.set(RTA.MULTIPATH, Buffer.alloc(8));
    expect(decodeTableRoute(m)?.exotic).toBe('multipath');
  });
});

describe('planRouting', () => {
  it('adds everything into an empty kernel, in phases: on-link routes, gateway routes, rules', () => {
    const plan = planRouting(desiredState(), snapshot(foreign().rules, foreign().routes), OWN);
    expect(plan.ops.filter((o) => o.op !== 'add')).toEqual([]);
    expect(plan.ops.map((o) => o.phase)).toEqual([1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]);
    expect(plan.ops.filter((o) => o.phase === 1).every((o) => o.kind === 'route' && o.route.gateway === '')).toBe(true);
    expect(plan.problems).toEqual([]);
    expect(plan.removedTables).toEqual([]);
  });

  it('is idempotent: the kernel view of the desired state gives no ops', () => {
    const k = kernelView();
    const f = foreign();
    const plan = planRouting(desiredState(), snapshot([...f.rules, ...k.rules], [...f.routes, ...k.routes]), OWN);
    expect(plan.ops.map(opText)).toEqual([]);
    expect(plan.ambiguous).toBe(false);
  });

  it('compares canonical v6 text (the kernel reports 2001:db8::1, the caller may write it long)', () => {
    const d = desiredState();
    const b = d.services[0]!;
    b.routes = b.routes.map((r) =>
      r.family !== 6
        ? r
        : r.gateway
          ? { ...r, gateway: '2001:0DB8:0002:0000:0000:0000:0000:0001' }
          : { ...r, dst: '2001:db8:2:0:0:0:0:0' },
    );
    d.services[1]!.routes = d.services[1]!.routes.map((r) =>
      r.family === 6 ? { ...r, gateway: 'FE80:0:0:0:0:ff:fe00:103%eth-c' } : r,
    );
    d.rules = d.rules.map((r) => (r.kind === 'source' && r.family === 6 ? { ...r, src: '2001:0db8:2:0::2' } : r));
    const k = kernelView();
    expect(planRouting(d, snapshot(k.rules, k.routes), OWN).ops.map(opText)).toEqual([]);
  });

  it('never deletes foreign rules or routes, even with nothing desired', () => {
    const f = foreign();
    const plan = planRouting({ services: [], rules: [] }, snapshot(f.rules, f.routes), OWN);
    expect(plan.ops).toEqual([]);
  });

  it('clear (nothing desired) deletes every rule and route of ours, and reports the emptied tables', () => {
    const k = kernelView();
    const f = foreign();
    const plan = planRouting(
      { services: [], rules: [] },
      snapshot([...f.rules, ...k.rules], [...f.routes, ...k.routes]),
      OWN,
    );
    expect(plan.ops.every((o) => o.op === 'del')).toBe(true);
    expect(plan.ops.filter((o) => o.kind === 'rule')).toHaveLength(6);
    expect(plan.ops.filter((o) => o.kind === 'route')).toHaveLength(7);
    // Rules go before routes; gateway routes before the on-link routes they may depend on.
    expect(plan.ops.map((o) => o.phase)).toEqual([4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6]);
    expect(plan.removedTables).toEqual([10001, 10002]);
    for (const o of plan.ops) {
      if (o.kind === 'rule') expect(isOurRule(o.rule, OWN)).toBe(true);
      else expect(o.route.table >= 10000 && o.route.table <= 10999).toBe(true);
    }
  });

  it('removes crash leftovers and adopts identical ones without touching them', () => {
    const k = kernelView();
    const leftovers = {
      rules: [kRule(4, 10777, 10777, { mark: 0x90000, mask: MASK })],
      routes: [
        kRoute(4, 10777, { gw: '198.51.100.25', oif: C }),
        kRoute(6, 10777, { dst: '2001:db8:3::', dstLen: 64, oif: C }),
      ],
    };
    // Half of the desired state survived the crash.
    const plan = planRouting(
      desiredState(),
      snapshot([...k.rules.slice(0, 3), ...leftovers.rules], [...k.routes.slice(0, 4), ...leftovers.routes]),
      OWN,
    );
    expect(plan.ops.filter((o) => o.op === 'del').map(opText)).toEqual([
      `del rule ${ruleKey(decodeRule(leftovers.rules[0]!)!)}`,
      `del route ${routeKey(decodeTableRoute(leftovers.routes[0]!)!)}`,
      `del route ${routeKey(decodeTableRoute(leftovers.routes[1]!)!)}`,
    ]);
    expect(plan.ops.filter((o) => o.op === 'add')).toHaveLength(3 + 3);
    expect(plan.removedTables).toEqual([10777]);
  });

  it('deletes extra copies of a rule and rules with selectors we never install', () => {
    const k = kernelView();
    const dup = kRule(4, 10501, 10001, { mark: 0x10000, mask: MASK });
    const withIif = kRule(4, 10502, 10002, { mark: 0x20000, mask: MASK, iifname: 'eth-c' });
    const plan = planRouting(desiredState(), snapshot([...k.rules, dup, withIif], k.routes), OWN);
    expect(plan.ops.map((o) => `${o.op} ${o.kind}`)).toEqual(['del rule', 'del rule']);
    const dels = plan.ops.map((o) => (o.kind === 'rule' ? o.rule : null));
    expect(dels.map((r) => r?.extra)).toEqual(['', 'iif eth-c']);
  });

  it('restores a rule deleted from outside with exactly one add', () => {
    const k = kernelView();
    const plan = planRouting(
      desiredState(),
      snapshot(
        k.rules.filter((_, i) => i !== 1),
        k.routes,
      ),
      OWN,
    );
    expect(plan.ops.map(opText)).toEqual([`add rule ${ruleKey(decodeRule(k.rules[1]!)!)}`]);
  });

  it('replaces a route whose slot (destination, metric) holds a stale one, instead of delete + add', () => {
    const k = kernelView();
    const routes = k.routes.map((m, i) => (i === 0 ? kRoute(4, 10001, { gw: '198.51.100.20', oif: B }) : m));
    const plan = planRouting(desiredState(), snapshot(k.rules, routes), OWN);
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      op: 'replace',
      kind: 'route',
      phase: 2,
      route: { gateway: '198.51.100.17', table: 10001 },
    });
  });

  it('treats another metric as another route: adds ours, deletes the stale one', () => {
    const k = kernelView();
    const routes = k.routes.map((m, i) =>
      i === 0 ? kRoute(4, 10001, { gw: '198.51.100.17', oif: B, metric: 100 }) : m,
    );
    const plan = planRouting(desiredState(), snapshot(k.rules, routes), OWN);
    expect(plan.ops.map((o) => `${o.op} ${o.kind} ${o.phase}`)).toEqual(['add route 2', 'del route 5']);
  });

  it('sets onlink for gateways no on-link route of the table covers (v4 and global v6), not for link-local v6', () => {
    const state: RoutingState = {
      services: [
        {
          serviceId: 'p',
          ifindex: C,
          ifname: 'eth-c',
          table: 10003,
          mark: 0x30000,
          routes: [
            { family: 4, dst: '', dstLen: 0, gateway: '198.51.100.25', ifindex: C, table: 10003 },
            { family: 4, dst: '198.51.100.26', dstLen: 32, ifindex: C, table: 10003 },
            { family: 6, dst: '', dstLen: 0, gateway: '2001:db8:9::1', ifindex: C, table: 10003 },
          ],
        },
        {
          serviceId: 'q',
          ifindex: B,
          ifname: 'eth-b',
          table: 10004,
          mark: 0x40000,
          routes: [
            { family: 4, dst: '', dstLen: 0, gateway: '198.51.100.17', ifindex: B, table: 10004 },
            { family: 4, dst: '198.51.100.16', dstLen: 29, ifindex: B, table: 10004 },
            { family: 6, dst: '', dstLen: 0, gateway: 'fe80::1', ifindex: B, table: 10004 },
          ],
        },
      ],
      rules: [],
    };
    const n = normaliseDesired(state, OWN);
    const gw = (table: number, family: 4 | 6) =>
      n.routes.find((r) => r.table === table && r.family === family && r.gateway !== '');
    expect(gw(10003, 4)?.onlink).toBe(true);
    expect(gw(10003, 6)?.onlink).toBe(true);
    expect(gw(10004, 4)?.onlink).toBe(false);
    expect(gw(10004, 6)?.onlink).toBe(false);
  });

  it('refuses desired entries outside our ranges (never writes there) and reports them', () => {
    const state: RoutingState = {
      services: [
        {
          serviceId: 'x',
          ifindex: B,
          ifname: 'eth-b',
          table: 500,
          mark: 1,
          routes: [{ family: 4, dst: '', dstLen: 0, gateway: '198.51.100.17', ifindex: B, table: 500 }],
        },
      ],
      rules: [
        { kind: 'fwmark', family: 4, priority: 20000, mark: 0x10000, mask: MASK, table: 10001 },
        { kind: 'fwmark', family: 4, priority: 10500, mark: 0x10000, mask: MASK, table: 254 },
      ],
    };
    const plan = planRouting(state, snapshot([], []), OWN);
    expect(plan.ops).toEqual([]);
    expect(plan.problems).toHaveLength(3);
  });

  it('keeps only the first of two desired routes for the same kernel slot', () => {
    const d = desiredState();
    d.services[0]!.routes.push({ family: 4, dst: '', dstLen: 0, gateway: '198.51.100.19', ifindex: B, table: 10001 });
    const n = normaliseDesired(d, OWN);
    expect(n.routes.filter((r) => r.table === 10001 && r.family === 4 && r.dstLen === 0).map((r) => r.gateway)).toEqual(
      ['198.51.100.17'],
    );
    expect(n.problems).toHaveLength(1);
  });

  it('flags a rule delete the kernel could resolve to another of our rules', () => {
    const k = kernelView();
    // A selector-less stale rule at the priority of a kept fwmark rule: a delete naming only
    // priority+table matches whichever comes first in the kernel's list.
    const bare = kRule(4, 10501, 10001, {});
    const after = planRouting(desiredState(), snapshot([...k.rules, bare], k.routes), OWN);
    expect(after.ops.map((o) => `${o.op} ${o.kind}`)).toEqual(['del rule']);
    expect(after.ambiguous).toBe(true);
    const before = planRouting(desiredState(), snapshot([bare, ...k.rules], k.routes), OWN);
    expect(before.ambiguous).toBe(false);
  });
});

/** A message's attributes as a plain object (type → bytes). */
const attrsOf = (m: RtMessage): Record<number, Buffer> => Object.fromEntries(m.attrs);

describe('requests', () => {
  it('puts table ids in RTA_TABLE/FRA_TABLE (rtm_table is a u8), tags proto 110, sets onlink', () => {
    const n = normaliseDesired(
      {
        services: [
          {
            serviceId: 'p',
            ifindex: C,
            ifname: 'eth-c',
            table: 10003,
            mark: 0x30000,
            routes: [{ family: 4, dst: '', dstLen: 0, gateway: '198.51.100.25', ifindex: C, table: 10003 }],
          },
        ],
        rules: [{ kind: 'source', family: 6, priority: 10003, src: '2001:db8:3::2', srcLen: 128, table: 10003 }],
      },
      OWN,
    );
    const route = addRouteMessage(n.routes[0]!);
    expect(route).toMatchObject({ family: 2, table: 0, protocol: 0x6e, type: 1, flags: RTNH_F_ONLINK });
    expect(attrsOf(route)).toEqual({
      [RTA.TABLE]: u32(10003),
      [RTA.OIF]: u32(C),
      [RTA.GATEWAY]: Buffer.from([198, 51, 100, 25]),
    });
    const rule = addRuleMessage(n.rules[0]!);
    expect(rule).toMatchObject({ family: 10, srcLen: 128, table: 0, action: 1 });
    expect(attrsOf(rule)).toEqual({
      [FRA.PRIORITY]: u32(10003),
      [FRA.TABLE]: u32(10003),
      [FRA.PROTOCOL]: Buffer.from([0x6e]),
      [FRA.SRC]: ip(6, '2001:db8:3::2'),
    });
  });

  it('deletes echo every dumped selector, and routes are deleted at any scope', () => {
    const rule = decodeRule(kRule(4, 10502, 10002, { mark: 0x20000, mask: MASK, iifname: 'eth-c' }))!;
    expect(attrsOf(delRuleMessage(rule))).toMatchObject({
      [FRA.PRIORITY]: u32(10502),
      [FRA.TABLE]: u32(10002),
      [FRA.FWMARK]: u32(0x20000),
      [FRA.FWMASK]: u32(MASK),
      [FRA.IIFNAME]: Buffer.from('eth-c\0'),
      [FRA.PROTOCOL]: Buffer.from([0x6e]),
    });
    const route = decodeTableRoute(kRoute(4, 10001, { dst: '198.51.100.16', dstLen: 29, oif: B }))!;
    const del = delRouteMessage(route);
    expect(del).toMatchObject({ family: 2, dstLen: 29, table: 0, scope: RT_SCOPE_NOWHERE, protocol: 0x6e });
    expect(attrsOf(del)).toEqual({ [RTA.TABLE]: u32(10001), [RTA.OIF]: u32(B), [RTA.DST]: ip(4, '198.51.100.16') });
  });
});

describe('helpers', () => {
  it('names the errno of a kernel rejection and of a socket failure', () => {
    expect(errorCode(new RtnlError('EEXIST'))).toBe('EEXIST');
    expect(new RtnlError('EEXIST').message).toBe('Request rejected: EEXIST');
    expect(new RtnlError('EINVAL', 'Invalid prefix for given prefix length').message).toBe(
      'Request rejected: EINVAL (Invalid prefix for given prefix length)',
    );
    expect(errorCode(new NetlinkSocketError('recv', 'ETIMEDOUT'))).toBe('ETIMEDOUT');
    expect(errorCode(new Error('something else'))).toBeNull();
    expect(errorCode(null)).toBeNull();
  });

  it('relaxes rp_filter only where the effective value max(all, if) is strict', () => {
    expect(rpFilterToWrite(0, 0)).toBeNull();
    expect(rpFilterToWrite(0, 1)).toBe(2);
    expect(rpFilterToWrite(1, 0)).toBe(2);
    expect(rpFilterToWrite(1, 1)).toBe(2);
    expect(rpFilterToWrite(1, 2)).toBeNull();
    expect(rpFilterToWrite(2, 1)).toBeNull();
    expect(rpFilterToWrite(0, 2)).toBeNull();
  });

  it('only writes sysctls of plain interface names, never all/default', () => {
    for (const ok of ['eth-b', 'eth0.100', 'wwan0']) expect(isSysctlIfname(ok)).toBe(true);
    for (const bad of ['all', 'default', '.', '..', 'a/b', '', 'x'.repeat(16)]) expect(isSysctlIfname(bad)).toBe(false);
    expect(managedInterfaces(desiredState())).toEqual(['eth-b', 'eth-c']);
  });

  it('turns canonical and long-form addresses into bytes', () => {
    expect([...addressBytes(4, '198.51.100.18')!]).toEqual([198, 51, 100, 18]);
    expect(addressBytes(6, '2001:db8::1')!.toString('hex')).toBe('20010db8000000000000000000000001');
    expect(addressBytes(6, '::')!.toString('hex')).toBe('0'.repeat(32));
    expect(addressBytes(6, 'fe80::1%eth-b')!.toString('hex')).toBe('fe800000000000000000000000000001');
    expect(addressBytes(4, '198.51.100.256')).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// The adapter's rounds against a fake kernel: stores what it is sent, answers dumps with it, and
// lets a test inject errors (and concurrent writers) per operation.
// ---------------------------------------------------------------------------------------------

type Inject = (op: string, key: string, kernel: FakeKernel) => Error | undefined;

const OP_NAME: Readonly<Record<number, string>> = {
  [RTM.NEWRULE]: 'newRule',
  [RTM.DELRULE]: 'delRule',
  [RTM.NEWROUTE]: 'newRoute',
  [RTM.DELROUTE]: 'delRoute',
};

class FakeKernel implements RtnlClient {
  rules: RuleMessage[] = [];
  routes: RouteMessage[] = [];
  writes: string[] = [];
  datagrams = 0;
  inject: Inject = () => undefined;

  /** What a dump would show of a request: the header's table capped at 252, the v6 default metric. */
  static stored<M extends RuleMessage | RouteMessage>(m: M): M {
    // FRA_TABLE and RTA_TABLE are both 15.
    const table = m.attrs.get(RTA.TABLE)?.readUInt32LE(0) ?? m.table;
    const attrs = new Map(m.attrs);
    if (m.kind === 'route' && m.family === 10 && !attrs.has(RTA.PRIORITY)) attrs.set(RTA.PRIORITY, u32(1024));
    return { ...m, table: table > 255 ? 252 : table, attrs };
  }

  dump(kind: RtKind): RtMessage[] {
    return kind === 'rule' ? [...this.rules] : kind === 'route' ? [...this.routes] : [];
  }

  request(reqs: readonly RtRequest[]): Array<RtnlError | null> {
    this.datagrams++;
    return reqs.map((r) => {
      const op = OP_NAME[r.type] ?? `type ${r.type}`;
      const key =
        r.msg.kind === 'rule'
          ? ruleKey(decodeRule(FakeKernel.stored(r.msg))!)
          : r.msg.kind === 'route'
            ? routeKey(decodeTableRoute(FakeKernel.stored(r.msg))!)
            : '';
      this.writes.push(`${op} ${key}`);
      const err = this.inject(op, key, this);
      if (err) return err as RtnlError;
      return this.apply(op, key, r);
    });
  }

  private apply(op: string, key: string, r: RtRequest): RtnlError | null {
    const ruleKeyOf = (m: RuleMessage) => ruleKey(decodeRule(m)!);
    const routeKeyOf = (m: RouteMessage) => routeKey(decodeTableRoute(m)!);
    if (op === 'newRule') {
      if (this.rules.some((x) => ruleKeyOf(x) === key)) return new RtnlError('EEXIST');
      this.rules.push(FakeKernel.stored(r.msg as RuleMessage));
    } else if (op === 'delRule') {
      const i = this.rules.findIndex((x) => ruleKeyOf(x) === key);
      if (i < 0) return new RtnlError('ENOENT');
      this.rules.splice(i, 1);
    } else if (op === 'newRoute') {
      const slot = this.routes.findIndex((x) => routeKeyOf(x).split(' via ')[0] === key.split(' via ')[0]);
      if (slot >= 0 && (r.flags & 0x100) === 0) return new RtnlError('EEXIST');
      const m = FakeKernel.stored(r.msg as RouteMessage);
      if (slot >= 0) this.routes.splice(slot, 1, m);
      else this.routes.push(m);
    } else if (op === 'delRoute') {
      const i = this.routes.findIndex((x) => routeKeyOf(x) === key);
      if (i < 0) return new RtnlError('ESRCH');
      this.routes.splice(i, 1);
    }
    return null;
  }

  close(): void {}
}

function fakeAdapter(kernel: FakeKernel, sysctlRoot = '/nonexistent-sysctl-root') {
  const logs: string[] = [];
  const routing = createRtnetlinkRouting({
    config: {
      markMask: MASK,
      sessionTagMask: 0xffff,
      tableRange: OWN.tableRange,
      priorityRange: OWN.priorityRange,
      maxSessionsPerClient: 64,
      maxSessionsPerUid: 256,
      maxPolicyGroups: 1_000,
      maxProvisioningServices: 1_000,
    },
    log: (level, msg) => logs.push(`${level} ${msg}`),
    sysctls: createProcSysctl(sysctlRoot),
    openClient: async () => kernel,
  });
  return { routing, logs };
}

describe('adapter rounds (fake kernel)', () => {
  it('applies, then a repeat issues nothing; clear leaves foreign entries', async () => {
    const kernel = new FakeKernel();
    const f = foreign();
    kernel.rules.push(...f.rules);
    kernel.routes.push(...f.routes);
    const { routing } = fakeAdapter(kernel);
    await routing.apply(desiredState());
    expect(routing.lastOps).toBe(7 + 6);
    await routing.apply(desiredState());
    expect(routing.lastOps).toBe(0);
    await routing.clear();
    expect(routing.lastOps).toBe(13);
    expect(kernel.rules).toEqual(f.rules);
    expect(kernel.routes).toEqual(f.routes);
  });

  it('EEXIST from a concurrent writer: re-reads, adopts the identical entry, no error', async () => {
    const kernel = new FakeKernel();
    let raced = false;
    kernel.inject = (op, key, k) => {
      if (op === 'newRule' && !raced && key.startsWith('4 pref 10501')) {
        raced = true;
        // Someone else adds exactly this rule between our dump and our add.
        k.rules.push(kRule(4, 10501, 10001, { mark: 0x10000, mask: MASK, protocol: 4 }));
        return new RtnlError('EEXIST');
      }
      return undefined;
    };
    const { routing } = fakeAdapter(kernel);
    await routing.apply(desiredState());
    expect(raced).toBe(true);
    expect(routing.lastReport.rounds).toBe(1);
    expect(routing.lastReport.failures).toEqual([]);
    await routing.apply(desiredState());
    expect(routing.lastOps).toBe(0);
  });

  it('skips routes whose next hop is not reachable yet, without an error, and adds them on a later apply', async () => {
    const kernel = new FakeKernel();
    let reachable = false;
    kernel.inject = (op, key) =>
      op === 'newRoute' && key.includes('t10002') && !reachable ? new RtnlError('ENETUNREACH') : undefined;
    const { routing, logs } = fakeAdapter(kernel);
    await routing.apply(desiredState());
    expect(routing.lastReport.skipped).toHaveLength(3);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('ENETUNREACH'))).toBe(true);
    expect(kernel.rules).toHaveLength(6);
    reachable = true;
    await routing.apply(desiredState());
    expect(routing.lastOps).toBe(3);
  });

  it('one failing operation does not stop the others; a summary error names it', async () => {
    const kernel = new FakeKernel();
    kernel.inject = (op, key) =>
      op === 'newRule' && key.startsWith('6 pref 10502') ? new RtnlError('EINVAL') : undefined;
    const { routing } = fakeAdapter(kernel);
    const err = await routing.apply(desiredState()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RoutingApplyError);
    expect((err as RoutingApplyError).failures.map((x) => x.code)).toEqual(['EINVAL']);
    expect((err as RoutingApplyError).message).toMatch(/1 operation\(s\) failed: add rule -6 pref 10502 .* EINVAL/);
    expect(kernel.rules).toHaveLength(5);
    expect(kernel.routes).toHaveLength(7);
  });

  it('a delete that finds nothing (someone was faster) is not an error', async () => {
    const kernel = new FakeKernel();
    kernel.rules.push(kRule(4, 10777, 10777, { mark: 0x90000, mask: MASK }));
    kernel.inject = (op, key, k) => {
      if (op === 'delRule') k.rules = k.rules.filter((r) => ruleKey(decodeRule(r)!) !== key);
      return undefined;
    };
    const { routing } = fakeAdapter(kernel);
    await routing.apply({ services: [], rules: [] });
    expect(routing.lastReport.failures).toEqual([]);
    expect(kernel.rules).toEqual([]);
  });

  it('keeps src_valid_mark=1 and relaxes a strict rp_filter on managed interfaces only (never conf.all)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'routing-sysctl-'));
    try {
      const conf = join(root, 'net/ipv4/conf');
      const put = (dev: string, key: string, v: string) => {
        mkdirSync(join(conf, dev), { recursive: true });
        writeFileSync(join(conf, dev, key), `${v}\n`);
      };
      const get = (dev: string, key: string) => readFileSync(join(conf, dev, key), 'utf8').trim();
      put('all', 'rp_filter', '1');
      put('all', 'src_valid_mark', '0');
      for (const dev of ['eth-a', 'eth-b']) {
        put(dev, 'rp_filter', '0');
        put(dev, 'src_valid_mark', '0');
      }
      // eth-c is in the desired state but has no directory (interface gone): skipped.
      const kernel = new FakeKernel();
      const { routing } = fakeAdapter(kernel, root);
      await routing.apply(desiredState());
      expect([get('eth-b', 'rp_filter'), get('eth-b', 'src_valid_mark')]).toEqual(['2', '1']);
      expect([get('eth-a', 'rp_filter'), get('eth-a', 'src_valid_mark')]).toEqual(['0', '0']);
      expect([get('all', 'rp_filter'), get('all', 'src_valid_mark')]).toEqual(['1', '0']);
      expect(routing.lastOps).toBe(2 + 13);
      await routing.apply(desiredState());
      expect(routing.lastOps).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
