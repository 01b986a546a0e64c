import { describe, expect, it } from 'vitest';
import {
  type GatewayState,
  type KernelAddress,
  kernelMetric,
  type LifecycleEvent,
  metricFor,
  needsPromoteSecondaries,
  nextGatewayState,
  planLinkConfig,
  planMainDefaults,
} from '../../../../../daemon/adapters/rtnetlink/link-config-plan.js';
import {
  RTPROT_NETSESSION as IFAPROT_NETSESSION,
  RT_TABLE_MAIN,
  RTPROT_RA,
} from '../../../../../daemon/adapters/rtnetlink/messages/constants.js';
import type { KernelRoute } from '../../../../../daemon/adapters/rtnetlink/routes.js';
import { lowPriorityMetric } from '../../../../../daemon/core/manage-routes.js';

describe('metricFor', () => {
  it('is 0 for the default service', () => {
    expect(metricFor(12, true)).toBe(0);
  });
  it("follows ConnMan's max(2^20, UINT32_MAX - 1024*ifindex)", () => {
    expect(metricFor(1, false)).toBe(4294967295 - 1024);
    expect(metricFor(12, false)).toBe(4294967295 - 12 * 1024);
    expect(metricFor(4_000_000, false)).toBe(4294967295 - 4_000_000 * 1024);
    expect(metricFor(4_194_000, false)).toBe(1 << 20);
    expect(metricFor(5_000_000, false)).toBe(1 << 20);
  });
  it('is the core lowPriorityMetric for non-default services, also around the 2^20 floor', () => {
    for (const ifindex of [1, 1000, 4_193_279, 4_193_280, 4_193_281, 2 ** 31])
      expect(metricFor(ifindex, false)).toBe(lowPriorityMetric(ifindex));
    expect(metricFor(4_193_279, false)).toBe(4294967295 - 4_193_279 * 1024);
    expect([metricFor(4_193_280, false), metricFor(4_193_281, false), metricFor(2 ** 31, false)]).toEqual([
      1 << 20,
      1 << 20,
      1 << 20,
    ]);
  });
  it('IPv6 metric 0 is reported as 1024 by the kernel', () => {
    expect(kernelMetric(6, 0)).toBe(1024);
    expect(kernelMetric(4, 0)).toBe(0);
    expect(kernelMetric(6, 77)).toBe(77);
  });
});

const addr = (ifindex: number, address: string, prefixLength: number, proto = 0): KernelAddress => ({
  family: address.includes(':') ? 6 : 4,
  address,
  prefixLength,
  ifindex,
  proto,
});

describe('planLinkConfig', () => {
  const links = [
    { ifindex: 12, up: true },
    { ifindex: 13, up: false },
    { ifindex: 11, up: true },
  ];
  it('adds missing addresses, deletes only tagged stale ones, never link-local or foreign links', () => {
    const plan = planLinkConfig(
      [
        {
          ifindex: 12,
          up: true,
          addresses: [
            { family: 4, address: '198.51.100.20', prefixLength: 29 },
            { family: 6, address: '2001:DB8:2::0:5', prefixLength: 64 },
          ],
        },
      ],
      links,
      [
        addr(12, '198.51.100.18', 29, IFAPROT_NETSESSION), // ours, stale
        addr(12, '198.51.100.19', 29), // foreign, kept
        addr(12, 'fe80::1', 64, IFAPROT_NETSESSION), // link-local, never deleted
        addr(11, '198.51.100.10', 29, IFAPROT_NETSESSION), // unmanaged link
        addr(12, '2001:db8:2::5', 64), // desired, adopted as-is
      ],
    );
    expect(plan.problems).toEqual([]);
    expect(plan.ops).toEqual([
      { op: 'del-addr', addr: addr(12, '198.51.100.18', 29, IFAPROT_NETSESSION) },
      { op: 'add-addr', ifindex: 12, addr: { family: 4, address: '198.51.100.20', prefixLength: 29 } },
    ]);
  });
  it('brings links up first and down last; a prefix change is delete then add', () => {
    const plan = planLinkConfig(
      [
        { ifindex: 13, up: true, addresses: [] },
        { ifindex: 12, up: false, addresses: [{ family: 4, address: '198.51.100.18', prefixLength: 28 }] },
      ],
      links,
      [addr(12, '198.51.100.18', 29, IFAPROT_NETSESSION)],
    );
    expect(plan.ops.map((o) => o.op)).toEqual(['up', 'del-addr', 'add-addr', 'down']);
  });
  it('reports unknown links and bad addresses, applies nothing for them', () => {
    const plan = planLinkConfig(
      [
        { ifindex: 99, up: true, addresses: [] },
        { ifindex: 12, up: true, addresses: [{ family: 4, address: 'x', prefixLength: 1 }] },
      ],
      links,
      [],
    );
    expect(plan.ops).toEqual([]);
    expect(plan.problems).toHaveLength(2);
  });
  it('is empty when the kernel already matches', () => {
    const plan = planLinkConfig(
      [{ ifindex: 12, up: true, addresses: [{ family: 4, address: '198.51.100.20', prefixLength: 29 }] }],
      links,
      [addr(12, '198.51.100.20', 29, IFAPROT_NETSESSION)],
    );
    expect(plan.ops).toEqual([]);
  });
});

const kroute = (family: 4 | 6, ifindex: number, gateway: string, metric: number, protocol = 0x6e): KernelRoute => ({
  family,
  table: RT_TABLE_MAIN,
  dst: '',
  dstLen: 0,
  srcLen: 0,
  tos: 0,
  type: 1,
  scope: 0,
  metric,
  gateway,
  ifindex,
  onlink: false,
  exotic: '',
  protocol,
});

describe('planMainDefaults', () => {
  it('adds missing, deletes stale of managed interfaces only, keeps RA and unmanaged defaults', () => {
    const plan = planMainDefaults(
      [{ ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 }],
      [
        kroute(4, 11, '198.51.100.9', 100),
        kroute(4, 12, '198.51.100.17', 200),
        kroute(6, 12, 'fe80::1', 1024, RTPROT_RA),
        kroute(6, 12, '2001:db8:2::1', 1024),
      ],
      [],
    );
    expect(plan.ops.map((o) => `${o.op} ${o.key}`)).toEqual([
      'add 4 default via 198.51.100.17 dev #12 metric 0',
      'del 4 default via 198.51.100.17 dev #12 metric 200',
      'del 6 default via 2001:db8:2::1 dev #12 metric 1024',
    ]);
  });
  it('promote/demote: a slot held by a stale route of ours is replaced, not added next to it', () => {
    const low = metricFor(13, false);
    const plan = planMainDefaults(
      [
        { ifindex: 12, family: 4, gateway: '198.51.100.17', metric: 0 },
        { ifindex: 13, family: 4, gateway: '198.51.100.25', metric: low },
      ],
      [kroute(4, 13, '198.51.100.25', 0), kroute(4, 12, '198.51.100.17', metricFor(12, false))],
      [12, 13],
    );
    expect(plan.ops.map((o) => `${o.op} ${o.key}`)).toEqual([
      'replace 4 default via 198.51.100.17 dev #12 metric 0',
      `add 4 default via 198.51.100.25 dev #13 metric ${low}`,
      `del 4 default via 198.51.100.17 dev #12 metric ${metricFor(12, false)}`,
    ]);
  });
  it('a managed interface without desired defaults loses them; same-metric desired is a problem', () => {
    const plan = planMainDefaults(
      [
        { ifindex: 12, family: 6, gateway: '2001:db8:2::1', metric: 0 },
        { ifindex: 13, family: 6, gateway: '2001:db8:3::1', metric: 0 },
      ],
      [kroute(6, 12, '2001:db8:2::1', 1024), kroute(4, 14, '198.51.100.33', 5)],
      [14],
    );
    expect(plan.problems).toHaveLength(1);
    expect(plan.ops.map((o) => `${o.op} ${o.key}`)).toEqual(['del 4 default via 198.51.100.33 dev #14 metric 5']);
    expect(plan.desiredKeys).toEqual(['6 default via 2001:db8:2::1 dev #12 metric 1024']);
  });
  it('on-link defaults have no gateway and are in sync when present', () => {
    const plan = planMainDefaults([{ ifindex: 12, family: 4, gateway: null, metric: 7 }], [kroute(4, 12, '', 7)], []);
    expect(plan.ops).toEqual([]);
  });
});

describe('gateway lifecycle', () => {
  const run = (s: GatewayState, ...es: LifecycleEvent[]): GatewayState => es.reduce(nextGatewayState, s);
  it('inactive -> added -> active -> removed -> inactive', () => {
    expect(run('inactive', 'add-requested')).toBe('added');
    expect(run('inactive', 'add-requested', 'kernel-new')).toBe('active');
    expect(run('inactive', 'add-requested', 'kernel-new', 'del-requested')).toBe('removed');
    expect(run('inactive', 'add-requested', 'kernel-new', 'del-requested', 'kernel-del')).toBe('inactive');
  });
  it('a dump never activates a route we added; only the notification does', () => {
    expect(run('inactive', 'add-requested', 'kernel-present')).toBe('added');
  });
  it('a dump adopts a route that already existed (restart)', () => {
    expect(run('inactive', 'kernel-present')).toBe('active');
  });
  it('after lost notifications a dump confirms a route we added (its kernel-new may be lost); a removed one stays removed', () => {
    expect(run('inactive', 'add-requested', 'kernel-present-after-loss')).toBe('active');
    expect(run('inactive', 'kernel-present-after-loss')).toBe('active');
    expect(run('active', 'del-requested', 'kernel-present-after-loss')).toBe('removed');
  });
  it('failures and losses', () => {
    expect(run('inactive', 'add-requested', 'add-failed')).toBe('inactive');
    expect(run('active', 'kernel-del')).toBe('inactive');
    expect(run('active', 'kernel-absent')).toBe('inactive');
    expect(run('active', 'del-requested', 'del-failed')).toBe('active');
    expect(run('added', 'kernel-absent')).toBe('inactive');
  });
  it('a late notification of an earlier add does not revive a removed route', () => {
    expect(run('active', 'del-requested', 'kernel-new')).toBe('removed');
    expect(run('removed', 'add-requested', 'kernel-new')).toBe('active');
  });
});

describe('needsPromoteSecondaries', () => {
  it('flags a link where a kept address shares the subnet of a deleted one of ours', () => {
    const ours = addr(12, '198.51.100.20', 29, IFAPROT_NETSESSION);
    const foreign = addr(12, '198.51.100.21', 29);
    const ops = [{ op: 'del-addr' as const, addr: ours }];
    expect(needsPromoteSecondaries(ops, [ours, foreign])).toEqual([12]);
    expect(needsPromoteSecondaries(ops, [ours, addr(12, '198.51.100.30', 29)])).toEqual([]);
    expect(
      needsPromoteSecondaries(
        [...ops, { op: 'del-addr' as const, addr: { ...foreign, proto: IFAPROT_NETSESSION } }],
        [ours, foreign],
      ),
    ).toEqual([]);
  });
});
