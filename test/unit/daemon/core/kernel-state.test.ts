import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalAddress, networkOf } from '../../../../daemon/core/addresses.js';
import { DEFAULT_CORE_CONFIG } from '../../../../daemon/core/config.js';
import {
  computeKernelState,
  type KernelInput,
  type KernelServiceInput,
  type KernelSessionInput,
  ownerOf,
} from '../../../../daemon/core/kernel-state.js';
import type { Classifier, PolicyRule } from '../../../../daemon/core/kernel-state-types.js';
import type { AddressFact } from '../../../../daemon/core/services.js';

const config = DEFAULT_CORE_CONFIG;
const MASK = 0x0fff0000;

const v4 = (address: string, prefixLength = 24, scope: AddressFact['scope'] = 'global'): AddressFact => ({
  family: 4,
  address,
  prefixLength,
  method: 'manual',
  scope,
});
const v6 = (address: string, prefixLength = 64, scope: AddressFact['scope'] = 'global'): AddressFact => ({
  family: 6,
  address,
  prefixLength,
  method: 'auto',
  scope,
});

/** Service n: table 10000+n, mark (n+1)<<16, slot n, ifindex 10+n, 198.51.100.x uplink on eth<n>. */
function service(n: number, over: Partial<KernelServiceInput> = {}): KernelServiceInput {
  return {
    id: `ethernet_${n}`,
    ifindex: 10 + n,
    ifname: `eth${n}`,
    table: 10000 + n,
    mark: (n + 1) * 0x10000,
    slot: n,
    connected: true,
    addresses: [v4(`198.51.100.${10 + n}`, 24)],
    gateways: [{ family: 4, gateway: '198.51.100.1', metric: 100 }],
    ...over,
  };
}

function session(serial: number, over: Partial<KernelSessionInput> = {}): KernelSessionInput {
  return {
    sessionKey: `s${serial}`,
    serial,
    tag: serial,
    priority: false,
    serviceId: null,
    claims: [],
    sourceIPRule: false,
    ...over,
  };
}

const compute = (services: KernelServiceInput[], sessions: KernelSessionInput[]) =>
  computeKernelState({ config, services, sessions });

describe('address arithmetic', () => {
  it('masks v4 and v6 prefixes', () => {
    expect(networkOf(4, '198.51.100.77', 24)).toBe('198.51.100.0');
    expect(networkOf(4, '198.51.100.77', 25)).toBe('198.51.100.0');
    expect(networkOf(4, '198.51.100.200', 25)).toBe('198.51.100.128');
    expect(networkOf(4, '198.19.3.4', 15)).toBe('198.18.0.0');
    expect(networkOf(4, '203.0.113.9', 32)).toBe('203.0.113.9');
    expect(networkOf(4, '203.0.113.9', 0)).toBe('0.0.0.0');
    expect(networkOf(6, '2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::');
    expect(networkOf(6, '2001:db8:1:2:3:4:5:6', 60)).toBe('2001:db8:1::');
    expect(networkOf(6, '2001:db8:abcd:12ff::1', 52)).toBe('2001:db8:abcd:1000::');
    expect(networkOf(6, '2001:db8::1', 128)).toBe('2001:db8::1');
    expect(networkOf(4, '198.51.100.1', 33)).toBeNull();
    expect(networkOf(6, 'not-an-address', 64)).toBeNull();
  });

  it('normalises v6 text (RFC 5952) and rejects junk', () => {
    expect(canonicalAddress(6, '2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalAddress(6, '2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalAddress(6, '2001:0db8:0000:0001:0000:0000:0000:0000')).toBe('2001:db8:0:1::');
    expect(canonicalAddress(6, 'fe80::1%eth0')).toBe('fe80::1');
    expect(canonicalAddress(6, '::ffff:198.51.100.1')).toBe('::ffff:c633:6401');
    expect(canonicalAddress(6, '::')).toBe('::');
    expect(canonicalAddress(6, '2001:db8::1::2')).toBeNull();
    expect(canonicalAddress(6, '1:2:3:4:5:6:7:8:9')).toBeNull();
    expect(canonicalAddress(4, '198.51.100.256')).toBeNull();
    expect(canonicalAddress(4, '198.51.100')).toBeNull();
  });
});

describe('computeKernelState: one session', () => {
  it('gives the bound service a table, a fwmark rule, and marks the session', () => {
    const state = compute(
      [service(0)],
      [session(1, { serviceId: 'ethernet_0', claims: [{ kind: 'uid', key: '1000' }] })],
    );
    expect(state.routing.services).toEqual([
      {
        serviceId: 'ethernet_0',
        ifindex: 10,
        ifname: 'eth0',
        table: 10000,
        mark: 0x10000,
        routes: [
          { family: 4, dst: '', dstLen: 0, gateway: '198.51.100.1', ifindex: 10, table: 10000 },
          { family: 4, dst: '198.51.100.0', dstLen: 24, ifindex: 10, table: 10000 },
        ],
      },
    ]);
    expect(state.routing.rules).toEqual([
      { kind: 'fwmark', family: 4, priority: 10500, mark: 0x10000, mask: MASK, table: 10000 },
    ]);
    expect(state.firewall).toEqual({
      mask: MASK,
      tagMask: 0xffff,
      sessions: [
        { sessionKey: 's1', mark: 0x10000, tag: 1, ifname: 'eth0', snat: [{ family: 4, address: '198.51.100.10' }] },
      ],
      classifiers: [{ kind: 'uid', key: '1000', sessionKey: 's1' }],
      services: [{ mark: 0x10000, ifname: 'eth0', snat: [{ family: 4, address: '198.51.100.10' }] }],
    });
  });

  it('lists every connected service for the firewall, with or without sessions, by mark', () => {
    const state = compute([service(1), service(0), service(2, { connected: false })], []);
    expect(state.firewall.sessions).toEqual([]);
    expect(state.firewall.services).toEqual([
      { mark: 0x10000, ifname: 'eth0', snat: [{ family: 4, address: '198.51.100.10' }] },
      { mark: 0x20000, ifname: 'eth1', snat: [{ family: 4, address: '198.51.100.11' }] },
    ]);
  });

  it('an unbound session still owns its claims, with mark 0 and no SNAT', () => {
    const state = compute([service(0)], [session(1, { claims: [{ kind: 'gid', key: '100' }], sourceIPRule: true })]);
    expect(state.firewall.sessions).toEqual([{ sessionKey: 's1', mark: 0, tag: 1, ifname: '', snat: [] }]);
    expect(state.firewall.classifiers).toEqual([{ kind: 'gid', key: '100', sessionKey: 's1' }]);
    expect(state.routing.rules.filter((r) => r.kind === 'source')).toEqual([]);
  });

  it('an unconnected service gets nothing; its sessions are unmarked', () => {
    const state = compute(
      [service(0, { connected: false })],
      [session(1, { serviceId: 'ethernet_0', sourceIPRule: true, claims: [{ kind: 'uid', key: '1000' }] })],
    );
    expect(state.routing).toEqual({ services: [], rules: [] });
    expect(state.firewall.sessions).toEqual([{ sessionKey: 's1', mark: 0, tag: 1, ifname: '', snat: [] }]);
    expect(state.firewall.services).toEqual([]);
    expect(state.firewall.classifiers).toEqual([{ kind: 'uid', key: '1000', sessionKey: 's1' }]);
  });

  it('ignores link-local and host addresses, de-duplicates prefix routes', () => {
    const svc = service(0, {
      addresses: [
        v4('169.254.3.3', 16, 'link'),
        v4('127.0.0.2', 8, 'host'),
        v4('198.51.100.10', 24),
        v4('198.51.100.11', 24),
        v6('fe80::2', 64, 'link'),
      ],
      gateways: [],
    });
    const state = compute([svc], [session(1, { serviceId: 'ethernet_0', sourceIPRule: true })]);
    expect(state.routing.services[0]?.routes).toEqual([
      { family: 4, dst: '198.51.100.0', dstLen: 24, ifindex: 10, table: 10000 },
    ]);
    expect(state.routing.rules.map((r) => (r.kind === 'source' ? r.src : `fwmark${r.family}`))).toEqual([
      '198.51.100.10',
      '198.51.100.11',
      'fwmark4',
    ]);
    expect(state.firewall.classifiers.map((c) => c.key)).toEqual(['198.51.100.10', '198.51.100.11']);
  });

  it('emits a host route for a /32 address and uses the lowest-metric gateway', () => {
    const svc = service(0, {
      addresses: [v4('203.0.113.5', 32)],
      gateways: [
        { family: 4, gateway: '203.0.113.1', metric: 600 },
        { family: 4, gateway: '203.0.113.2', metric: 50 },
      ],
    });
    expect(compute([svc], []).routing.services[0]?.routes).toEqual([
      { family: 4, dst: '', dstLen: 0, gateway: '203.0.113.2', ifindex: 10, table: 10000 },
      { family: 4, dst: '203.0.113.5', dstLen: 32, ifindex: 10, table: 10000 },
    ]);
  });
});

describe('computeKernelState: IPv6', () => {
  const dual = service(0, {
    addresses: [
      v6('2001:DB8:1:0::10', 64),
      v4('198.51.100.10', 24),
      v6('fe80::10', 64, 'link'),
      v6('2001:db8:1::11', 128),
    ],
    gateways: [
      { family: 6, gateway: 'fe80::1', metric: 1024 },
      { family: 4, gateway: '198.51.100.1', metric: 100 },
    ],
  });

  it('fills the table for both families and adds a fwmark rule per family', () => {
    const claims = [{ kind: 'uid' as const, key: '1000' }];
    const state = compute([dual], [session(1, { serviceId: 'ethernet_0', claims })]);
    expect(state.routing.services[0]?.routes).toEqual([
      { family: 4, dst: '', dstLen: 0, gateway: '198.51.100.1', ifindex: 10, table: 10000 },
      { family: 4, dst: '198.51.100.0', dstLen: 24, ifindex: 10, table: 10000 },
      { family: 6, dst: '', dstLen: 0, gateway: 'fe80::1', ifindex: 10, table: 10000 },
      { family: 6, dst: '2001:db8:1::', dstLen: 64, ifindex: 10, table: 10000 },
      { family: 6, dst: '2001:db8:1::11', dstLen: 128, ifindex: 10, table: 10000 },
    ]);
    expect(state.routing.rules).toEqual([
      { kind: 'fwmark', family: 4, priority: 10500, mark: 0x10000, mask: MASK, table: 10000 },
      { kind: 'fwmark', family: 6, priority: 10500, mark: 0x10000, mask: MASK, table: 10000 },
    ]);
    expect(state.firewall.sessions[0]?.snat).toEqual([
      { family: 4, address: '198.51.100.10' },
      { family: 6, address: '2001:db8:1::10' },
    ]);
  });

  it('a v6-only service gets only v6 routes and rules', () => {
    const svc = service(1, {
      addresses: [v6('2001:db8:2::5', 64)],
      gateways: [{ family: 6, gateway: 'fe80::1', metric: 1 }],
    });
    const state = compute([svc], [session(1, { serviceId: 'ethernet_1', sourceIPRule: true })]);
    expect(state.routing.rules).toEqual([
      { kind: 'source', family: 6, priority: 10001, src: '2001:db8:2::5', srcLen: 128, table: 10001 },
      { kind: 'fwmark', family: 6, priority: 10501, mark: 0x20000, mask: MASK, table: 10001 },
    ]);
    expect(state.firewall.classifiers).toEqual([{ kind: 'source', key: '2001:db8:2::5', family: 6, sessionKey: 's1' }]);
    expect(state.firewall.sessions[0]?.snat).toEqual([{ family: 6, address: '2001:db8:2::5' }]);
  });

  it('source rules for both families come before the fwmark rules', () => {
    const state = compute([dual], [session(1, { serviceId: 'ethernet_0', sourceIPRule: true })]);
    const rules = state.routing.rules;
    expect(rules.map((r) => [r.kind, r.family, r.priority])).toEqual([
      ['source', 4, 10000],
      ['source', 6, 10000],
      ['source', 6, 10000],
      ['fwmark', 4, 10500],
      ['fwmark', 6, 10500],
    ]);
    expect(
      rules.filter((r) => r.kind === 'source').map((r) => (r.kind === 'source' ? `${r.src}/${r.srcLen}` : '')),
    ).toEqual(['198.51.100.10/32', '2001:db8:1::10/128', '2001:db8:1::11/128']);
  });
});

describe('computeKernelState: sessions that claim nothing', () => {
  it('get no marking; a claim (policy, cgroup or SourceIPRule with an address) gives them one', () => {
    const bare = compute([service(0)], [session(1, { serviceId: 'ethernet_0' }), session(2)]);
    expect(bare.firewall.sessions).toEqual([]);
    expect(bare.firewall.classifiers).toEqual([]);
    // The service's table and rule do not depend on sessions.
    expect(bare.routing.services.map((s) => s.serviceId)).toEqual(['ethernet_0']);
    const claimed = compute(
      [service(0), service(1, { connected: false })],
      [
        session(1, { serviceId: 'ethernet_0', sourceIPRule: true }),
        session(2, { claims: [{ kind: 'cgroup', key: '/app' }] }),
        session(3, { claims: [{ kind: 'gid', key: '100' }] }),
        // SourceIPRule on a service with no usable address claims nothing.
        session(4, { serviceId: 'ethernet_1', sourceIPRule: true }),
      ],
    );
    expect(claimed.firewall.sessions.map((s) => s.sessionKey)).toEqual(['s1', 's2', 's3']);
  });
});

describe('computeKernelState: two sessions', () => {
  it('sessions on the same service share one table and one rule', () => {
    const state = compute(
      [service(0)],
      [
        session(1, { serviceId: 'ethernet_0', claims: [{ kind: 'uid', key: '1000' }] }),
        session(2, { serviceId: 'ethernet_0', claims: [{ kind: 'uid', key: '1001' }] }),
      ],
    );
    expect(state.routing.services).toHaveLength(1);
    expect(state.routing.rules).toHaveLength(1);
    expect(state.firewall.sessions.map((s) => [s.sessionKey, s.mark])).toEqual([
      ['s1', 0x10000],
      ['s2', 0x10000],
    ]);
    expect(state.firewall.classifiers.map((c) => [c.key, c.sessionKey])).toEqual([
      ['1000', 's1'],
      ['1001', 's2'],
    ]);
  });

  it('sessions on different services get different tables, marks and priorities', () => {
    const state = compute(
      [service(1), service(0)],
      [
        session(1, { serviceId: 'ethernet_1', claims: [{ kind: 'uid', key: '1000' }] }),
        session(2, { serviceId: 'ethernet_0', claims: [{ kind: 'uid', key: '1001' }] }),
      ],
    );
    expect(state.routing.services.map((s) => [s.serviceId, s.table, s.mark])).toEqual([
      ['ethernet_0', 10000, 0x10000],
      ['ethernet_1', 10001, 0x20000],
    ]);
    expect(state.routing.rules.map((r) => [r.priority, r.table])).toEqual([
      [10500, 10000],
      [10501, 10001],
    ]);
    expect(state.firewall.sessions.map((s) => [s.sessionKey, s.ifname, s.mark])).toEqual([
      ['s1', 'eth1', 0x20000],
      ['s2', 'eth0', 0x10000],
    ]);
  });

  it('the same uid claimed by two sessions belongs to the older one', () => {
    const uid = [{ kind: 'uid' as const, key: '1000' }];
    const state = compute(
      [service(0), service(1)],
      [session(7, { serviceId: 'ethernet_1', claims: uid }), session(3, { serviceId: 'ethernet_0', claims: uid })],
    );
    expect(state.firewall.classifiers).toEqual([{ kind: 'uid', key: '1000', sessionKey: 's3' }]);
    expect(state.firewall.sessions.map((s) => s.sessionKey)).toEqual(['s3', 's7']);
  });

  it('Priority=true beats age', () => {
    const uid = [{ kind: 'uid' as const, key: '1000' }];
    const state = compute(
      [service(0)],
      [
        session(3, { claims: uid }),
        session(7, { claims: uid, priority: true }),
        session(9, { claims: uid, priority: true }),
      ],
    );
    expect(state.firewall.classifiers).toEqual([{ kind: 'uid', key: '1000', sessionKey: 's7' }]);
  });

  it('ownerOf orders priority, then serial, then key', () => {
    expect(
      ownerOf({ sessionKey: 'b', serial: 9, priority: true }, { sessionKey: 'a', serial: 1, priority: false }),
    ).toBeLessThan(0);
    expect(
      ownerOf({ sessionKey: 'b', serial: 1, priority: false }, { sessionKey: 'a', serial: 2, priority: false }),
    ).toBeLessThan(0);
    expect(
      ownerOf({ sessionKey: 'a', serial: 2, priority: false }, { sessionKey: 'b', serial: 1, priority: false }),
    ).toBeGreaterThan(0);
    expect(
      ownerOf({ sessionKey: 'a', serial: 1, priority: true }, { sessionKey: 'b', serial: 1, priority: true }),
    ).toBeLessThan(0);
    expect(
      ownerOf({ sessionKey: 'a', serial: 1, priority: true }, { sessionKey: 'a', serial: 1, priority: true }),
    ).toBe(0);
  });

  it('SourceIPRule toggles the source rules and source classifiers of the bound service', () => {
    const svcs = [service(0), service(1)];
    const off = compute(svcs, [session(1, { serviceId: 'ethernet_0' }), session(2, { serviceId: 'ethernet_1' })]);
    expect(off.routing.rules.every((r) => r.kind === 'fwmark')).toBe(true);
    expect(off.firewall.classifiers).toEqual([]);

    const on = compute(svcs, [
      session(1, { serviceId: 'ethernet_0', sourceIPRule: true }),
      session(2, { serviceId: 'ethernet_1' }),
    ]);
    expect(on.routing.rules.filter((r) => r.kind === 'source')).toEqual([
      { kind: 'source', family: 4, priority: 10000, src: '198.51.100.10', srcLen: 32, table: 10000 },
    ]);
    expect(on.firewall.classifiers).toEqual([{ kind: 'source', key: '198.51.100.10', family: 4, sessionKey: 's1' }]);
    // Switching it on does not touch the tables.
    expect(on.routing.services).toEqual(off.routing.services);
  });

  it('two SourceIPRule sessions on one service: one rule per address, the older owns the source', () => {
    const state = compute(
      [service(0)],
      [
        session(5, { serviceId: 'ethernet_0', sourceIPRule: true }),
        session(4, { serviceId: 'ethernet_0', sourceIPRule: true }),
      ],
    );
    expect(state.routing.rules.filter((r) => r.kind === 'source')).toHaveLength(1);
    expect(state.firewall.classifiers).toEqual([{ kind: 'source', key: '198.51.100.10', family: 4, sessionKey: 's4' }]);
  });

  it('sorts classifiers by kind (source, cgroup, uid, gid) then key, numbers numerically', () => {
    const state = compute(
      [service(0)],
      [
        session(1, {
          serviceId: 'ethernet_0',
          sourceIPRule: true,
          claims: [
            { kind: 'gid', key: '20' },
            { kind: 'uid', key: '1000' },
            { kind: 'uid', key: '999' },
            { kind: 'cgroup', key: '/system.slice/b.service' },
            { kind: 'cgroup', key: '/system.slice/a.service' },
            { kind: 'gid', key: '3' },
            { kind: 'uid', key: '0999' }, // same uid as 999
          ],
        }),
      ],
    );
    expect(state.firewall.classifiers.map((c) => `${c.kind}:${c.key}`)).toEqual([
      'source:198.51.100.10',
      'cgroup:/system.slice/a.service',
      'cgroup:/system.slice/b.service',
      'uid:999',
      'uid:1000',
      'gid:3',
      'gid:20',
    ]);
  });
});

describe('computeKernelState: sourceRules (manage mode)', () => {
  const dual = (n: number, over: Partial<KernelServiceInput> = {}) =>
    service(n, { addresses: [v4(`198.51.100.${10 + n}`, 24), v6(`2001:db8:${n + 1}::10`, 64)], ...over });
  const sourceRules = (rules: PolicyRule[]) => rules.filter((r) => r.kind === 'source');

  it('a connected service with the flag gets a source rule per global address without any session', () => {
    const state = compute([dual(0), dual(1, { sourceRules: true })], []);
    expect(sourceRules(state.routing.rules)).toEqual([
      { kind: 'source', family: 4, priority: 10001, src: '198.51.100.11', srcLen: 32, table: 10001 },
      { kind: 'source', family: 6, priority: 10001, src: '2001:db8:2::10', srcLen: 128, table: 10001 },
    ]);
    // Routing only: no session asked, so nothing is classified.
    expect(state.firewall.classifiers).toEqual([]);
  });

  it('without the flag and without SourceIPRule sessions there are none', () => {
    const state = compute([dual(0), dual(1, { sourceRules: false })], [session(1, { serviceId: 'ethernet_1' })]);
    expect(sourceRules(state.routing.rules)).toEqual([]);
  });

  it('the flag and a SourceIPRule session together give the same rules, once', () => {
    const both = compute(
      [dual(0, { sourceRules: true })],
      [session(1, { serviceId: 'ethernet_0', sourceIPRule: true })],
    );
    const sessionOnly = compute([dual(0)], [session(1, { serviceId: 'ethernet_0', sourceIPRule: true })]);
    const flagOnly = compute([dual(0, { sourceRules: true })], []);
    expect(sourceRules(both.routing.rules)).toHaveLength(2);
    expect(both.routing.rules).toEqual(sessionOnly.routing.rules);
    expect(flagOnly.routing.rules).toEqual(sessionOnly.routing.rules);
  });

  it('a disconnected service with the flag gets none', () => {
    const state = compute(
      [dual(0, { sourceRules: true, connected: false })],
      [session(1, { serviceId: 'ethernet_0', sourceIPRule: true })],
    );
    expect(state.routing.rules).toEqual([]);
  });
});

describe('computeKernelState: many sessions', () => {
  it('1000 sessions: rules stay per service and family; one classifier per distinct claim', () => {
    const services = [
      service(0),
      service(1, {
        addresses: [v4('203.0.113.10', 24), v6('2001:db8:1::10')],
        gateways: [
          { family: 4, gateway: '203.0.113.1', metric: 1 },
          { family: 6, gateway: 'fe80::1', metric: 1 },
        ],
      }),
      service(2, { connected: false }),
    ];
    const sessions: KernelSessionInput[] = [];
    for (let i = 0; i < 1000; i++) {
      sessions.push(
        session(i, {
          serviceId: i % 4 === 3 ? null : `ethernet_${i % 3}`,
          priority: i % 97 === 0,
          claims: [
            { kind: 'uid', key: String(1000 + (i % 50)) },
            { kind: 'cgroup', key: `/app-${i % 200}.scope` },
          ],
        }),
      );
    }
    const state = compute(services, sessions);
    expect(state.routing.services).toHaveLength(2);
    expect(state.routing.rules).toHaveLength(3); // v4 for ethernet_0, v4 + v6 for ethernet_1
    expect(state.routing.rules.every((r) => r.kind === 'fwmark')).toBe(true);
    expect(state.firewall.classifiers).toHaveLength(50 + 200);
    expect(state.firewall.sessions).toHaveLength(1000);
    expect(new Set(state.firewall.sessions.map((s) => s.sessionKey)).size).toBe(1000);
    // uid 1000 is claimed by sessions 0, 50, 100, ...; session 0 has priority and is oldest.
    expect(state.firewall.classifiers.find((c) => c.kind === 'uid' && c.key === '1000')?.sessionKey).toBe('s0');
    // uid 1001: sessions 1, 51, ...; 97*k ≡ 1 (mod 50) first at k=33 → s3201 (> 999), so none has priority; oldest s1 wins.
    expect(state.firewall.classifiers.find((c) => c.kind === 'uid' && c.key === '1001')?.sessionKey).toBe('s1');
    // uid 1044: 97*k ≡ 44 (mod 50) → k=2 → s194 has priority and beats the older s44.
    expect(state.firewall.classifiers.find((c) => c.kind === 'uid' && c.key === '1044')?.sessionKey).toBe('s194');
    const byKey = new Map(state.firewall.sessions.map((s) => [s.sessionKey, s]));
    expect(byKey.get('s2')?.mark).toBe(0); // bound to the unconnected ethernet_2
    expect(byKey.get('s3')?.mark).toBe(0); // unbound
    expect(byKey.get('s4')?.mark).toBe(0x20000);
  });

  it('10000 sessions compute without trouble', () => {
    const sessions = Array.from({ length: 10000 }, (_, i) =>
      session(i, {
        serviceId: `ethernet_${i % 2}`,
        sourceIPRule: i % 10 < 2,
        claims: [{ kind: 'uid', key: String(i) }],
      }),
    );
    const state = compute([service(0), service(1)], sessions);
    expect(state.firewall.classifiers).toHaveLength(10000 + 2);
    expect(state.routing.rules).toHaveLength(4);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const ADDRS: AddressFact[] = [
  v4('198.51.100.10', 24),
  v4('198.51.100.11', 24),
  v4('203.0.113.7', 32),
  v4('169.254.1.1', 16, 'link'),
  v6('2001:db8:1::10', 64),
  v6('2001:db8:2::1', 48),
  v6('fe80::1', 64, 'link'),
];

const serviceArb = (n: number): fc.Arbitrary<KernelServiceInput> =>
  fc
    .record({
      connected: fc.boolean(),
      addresses: fc.subarray(ADDRS),
      gw4: fc.boolean(),
      gw6: fc.boolean(),
      sourceRules: fc.boolean(),
    })
    .map(({ connected, addresses, gw4, gw6, sourceRules }) =>
      service(n, {
        connected,
        addresses,
        sourceRules,
        gateways: [
          ...(gw4 ? [{ family: 4 as const, gateway: '198.51.100.1', metric: 1 }] : []),
          ...(gw6 ? [{ family: 6 as const, gateway: 'fe80::1', metric: 1 }] : []),
        ],
      }),
    );

const claimArb = fc.record({
  kind: fc.constantFrom('uid' as const, 'gid' as const, 'cgroup' as const),
  key: fc.constantFrom('0', '7', '1000', '/a.scope', '/b/c.service'),
});

const inputArb: fc.Arbitrary<KernelInput> = fc.integer({ min: 0, max: 4 }).chain((nServices) =>
  fc
    .record({
      services: fc.tuple(...Array.from({ length: nServices }, (_, i) => serviceArb(i))),
      serials: fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { maxLength: 25 }),
    })
    .chain(({ services, serials }) =>
      fc
        .tuple(
          ...serials.map((serial) =>
            fc
              .record({
                priority: fc.boolean(),
                serviceId: fc.option(
                  fc.constantFrom('ethernet_0', 'ethernet_1', 'ethernet_2', 'ethernet_3', 'ethernet_9'),
                  { nil: null },
                ),
                claims: fc.array(claimArb, { maxLength: 3 }),
                sourceIPRule: fc.boolean(),
              })
              .map((r) => session(serial, r)),
          ),
        )
        .map((sessions) => ({ config, services: [...services], sessions: [...sessions] })),
    ),
);

/** Every (kind, key) each session claims, computed independently of the implementation. */
function claimsOf(input: KernelInput): Map<string, KernelSessionInput[]> {
  const out = new Map<string, KernelSessionInput[]>();
  const add = (k: string, s: KernelSessionInput): void => {
    const list = out.get(k) ?? [];
    if (!list.includes(s)) list.push(s);
    out.set(k, list);
  };
  for (const s of input.sessions) {
    for (const c of s.claims) add(`${c.kind}:${c.key}`, s); // the generated keys are already canonical
    const svc = input.services.find((x) => x.id === s.serviceId && x.connected);
    if (s.sourceIPRule && svc) for (const a of svc.addresses) if (a.scope === 'global') add(`source:${a.address}`, s);
  }
  return out;
}

const keyOf = (c: Classifier): string => `${c.kind}:${c.key}`;

describe('computeKernelState: properties', () => {
  it('each claimed identity appears once, owned by the session the rule picks', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const state = computeKernelState(input);
        const keys = state.firewall.classifiers.map(keyOf);
        expect(new Set(keys).size).toBe(keys.length);
        const claims = claimsOf(input);
        expect(new Set(keys)).toEqual(new Set(claims.keys()));
        for (const c of state.firewall.classifiers) {
          const claimants = claims.get(keyOf(c)) ?? [];
          const owner = claimants.find((s) => s.sessionKey === c.sessionKey);
          expect(owner).toBeDefined();
          for (const other of claimants) expect(ownerOf(owner as KernelSessionInput, other)).toBeLessThanOrEqual(0);
        }
        // A marking for every session that claims something, and for no other.
        const claiming = new Set([...claims.values()].flat().map((s) => s.sessionKey));
        expect(state.firewall.sessions.map((s) => s.sessionKey).sort()).toEqual([...claiming].sort());
      }),
      { numRuns: 300 },
    );
  });

  it('output does not depend on the order of sessions or services', () => {
    fc.assert(
      fc.property(
        inputArb.chain((input) =>
          fc
            .tuple(
              fc.shuffledSubarray(input.sessions, {
                minLength: input.sessions.length,
                maxLength: input.sessions.length,
              }),
              fc.shuffledSubarray(input.services, {
                minLength: input.services.length,
                maxLength: input.services.length,
              }),
            )
            .map(([sessions, services]) => [input, { ...input, sessions, services }] as const),
        ),
        ([a, b]) => {
          expect(computeKernelState(b)).toEqual(computeKernelState(a));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rules: at most one fwmark rule per connected service and family, source rules before fwmark rules', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const { rules } = computeKernelState(input).routing;
        const connected = input.services.filter((s) => s.connected);
        const fw = rules.filter((r): r is Extract<PolicyRule, { kind: 'fwmark' }> => r.kind === 'fwmark');
        expect(new Set(fw.map((r) => `${r.table}/${r.family}`)).size).toBe(fw.length);
        expect(fw.length).toBeLessThanOrEqual(connected.length * 2);
        const maxSource = Math.max(-Infinity, ...rules.filter((r) => r.kind === 'source').map((r) => r.priority));
        const minFwmark = Math.min(Infinity, ...fw.map((r) => r.priority));
        expect(maxSource).toBeLessThan(minFwmark);
        for (const r of rules) expect(connected.some((s) => s.table === r.table)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('source rules: exactly one per global address of each connected service that has the flag or a bound SourceIPRule session', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const expected = input.services
          .filter(
            (s) =>
              s.connected &&
              (s.sourceRules === true || input.sessions.some((x) => x.sourceIPRule && x.serviceId === s.id)),
          )
          .flatMap((s) => s.addresses.filter((a) => a.scope === 'global').map((a) => `${s.table} ${a.address}`));
        const actual = computeKernelState(input)
          .routing.rules.filter((r) => r.kind === 'source')
          .map((r) => `${r.table} ${r.src}`);
        expect(actual.sort()).toEqual(expected.sort());
      }),
      { numRuns: 300 },
    );
  });
});
