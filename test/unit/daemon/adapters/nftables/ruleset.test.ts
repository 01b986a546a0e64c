import { describe, expect, it } from 'vitest';
import type { CgroupRef } from '../../../../../daemon/adapters/firewall/cgroup.js';
import { fingerprint } from '../../../../../daemon/adapters/firewall/fingerprint.js';
import { diffTable } from '../../../../../daemon/adapters/nftables/diff.js';
import { buildRuleset, serviceRule } from '../../../../../daemon/adapters/nftables/ruleset.js';
import { opsToScript } from '../../../../../daemon/adapters/nftables/script.js';
import type { FirewallState } from '../../../../../daemon/core/kernel-state-types.js';

const noCgroups = { cgroup: (): CgroupRef | null => null };
/** A resolver as if cgroup2 were mounted at /sys/fs/cgroup, with made-up ids. */
const fakeCgroups = {
  cgroup: (path: string): CgroupRef | null => {
    const parts = path.split('/').filter(Boolean);
    return path.includes('missing')
      ? null
      : { id: String(1000 + path.length), nftPath: parts.join('/'), level: parts.length };
  },
};

const stripComments = (s: string) => s.replace(/ comment "[0-9a-f]{16}"/g, '');

function oneSession(): FirewallState {
  return {
    mask: 0x0fff0000,
    tagMask: 0x0000ffff,
    sessions: [
      {
        sessionKey: 's1',
        mark: 0x00020000,
        tag: 1,
        ifname: 'eth-b',
        snat: [
          { family: 4, address: '198.51.100.18' },
          { family: 6, address: '2001:db8:2::2' },
        ],
      },
    ],
    classifiers: [{ kind: 'uid', key: '1001', sessionKey: 's1' }],
  };
}

describe('nftables ruleset', () => {
  it('builds the documented table for one session (golden script from an empty kernel): no chain or rule of its own', () => {
    const { table, warnings } = buildRuleset(oneSession(), noCgroups);
    expect(warnings).toEqual([]);
    expect(stripComments(opsToScript(diffTable(null, table), 'netsession'))).toBe(
      [
        'add table inet netsession',
        'add counter inet netsession tx_s1',
        'add counter inet netsession rx_s1',
        'add map inet netsession src4 { type ipv4_addr : mark; }',
        'add map inet netsession src6 { type ipv6_addr : mark; }',
        'add map inet netsession uid { type uid : mark; }',
        'add map inet netsession gid { type gid : mark; }',
        'add map inet netsession svc { type mark : verdict; }',
        'add map inet netsession tx { type mark : counter; }',
        'add map inet netsession rx { type mark : counter; }',
        'add chain inet netsession svc_00020000',
        'add chain inet netsession service',
        'add chain inet netsession classify',
        'add chain inet netsession output { type route hook output priority -150; policy accept; }',
        'add chain inet netsession prerouting { type filter hook prerouting priority -150; policy accept; }',
        'add chain inet netsession input { type filter hook input priority -150; policy accept; }',
        'add chain inet netsession postrouting { type nat hook postrouting priority 100; policy accept; }',
        'add rule inet netsession svc_00020000 meta mark set meta mark and 0xf0000000 or 0x00020000',
        'add rule inet netsession service ct mark and 0x0fff0000 vmap @svc',
        'add rule inet netsession classify ct mark set ip saddr map @src4 goto service',
        'add rule inet netsession classify ct mark set ip6 saddr map @src6 goto service',
        'add rule inet netsession classify ct mark set meta skuid map @uid goto service',
        'add rule inet netsession classify ct mark set meta skgid map @gid goto service',
        'add rule inet netsession output ct mark and 0x0fffffff != 0 ct mark and 0x0fff0000 vmap @svc',
        'add rule inet netsession output ct mark and 0x0fff0000 != 0 meta mark and 0x0fff0000 == 0 meta mark set ct mark',
        'add rule inet netsession output ct state new meta mark and 0x0fffffff == 0 jump classify',
        'add rule inet netsession output ct mark and 0x0000ffff != 0 counter name ct mark and 0x0000ffff map @tx',
        'add rule inet netsession prerouting ct mark and 0x0fffffff != 0 ct mark and 0x0fff0000 vmap @svc',
        'add rule inet netsession prerouting ct mark and 0x0fff0000 != 0 meta mark and 0x0fff0000 == 0 meta mark set ct mark',
        'add rule inet netsession input ct mark and 0x0000ffff != 0 counter name ct mark and 0x0000ffff map @rx',
        'add rule inet netsession postrouting meta mark and 0x0fff0000 == 0x00020000 oifname "eth-b" fib saddr type local snat ip to 198.51.100.18',
        'add rule inet netsession postrouting meta mark and 0x0fff0000 == 0x00020000 oifname "eth-b" fib saddr type local snat ip6 to 2001:db8:2::2',
        'add element inet netsession uid { 1001 : 0x00020001 }',
        'add element inet netsession svc { 0x00020000 : jump svc_00020000 }',
        'add element inet netsession tx { 0x00000001 : "tx_s1" }',
        'add element inet netsession rx { 0x00000001 : "rx_s1" }',
        '',
      ].join('\n'),
    );
  });

  it('stores each rule fingerprint as its comment', () => {
    const { table } = buildRuleset(oneSession(), noCgroups);
    const script = opsToScript(diffTable(null, table), 'netsession');
    const text = serviceRule(0x0fffffff, 0x00020000);
    expect(script).toContain(`add rule inet netsession svc_00020000 ${text} comment "${fingerprint(text)}"`);
    expect(fingerprint(text)).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint(text)).not.toBe(fingerprint(serviceRule(0x0fffffff, 0x00030000)));
    expect(fingerprint('a')).not.toBe(fingerprint('b'));
  });

  it("keeps other users' mark bits: AND with ~(mask|tagMask), even with bit 31 in the masks", () => {
    expect(serviceRule(0x0fffffff, 0x00020000)).toBe('meta mark set meta mark and 0xf0000000 or 0x00020000');
    const high = buildRuleset(
      {
        mask: 0xf0000000,
        tagMask: 0x0000ff00,
        sessions: [{ sessionKey: 'a', mark: 0x80000000, tag: 0x100, ifname: 'x', snat: [] }],
        classifiers: [{ kind: 'uid', key: '5', sessionKey: 'a' }],
      },
      noCgroups,
    );
    expect(high.table.chains.get('svc_80000000')?.rules[0]?.text).toBe(
      'meta mark set meta mark and 0x0fff00ff or 0x80000000',
    );
    expect(high.table.maps.get('uid')?.elements.get('5')?.value).toBe('0x80000100');
    expect(high.table.maps.get('svc')?.elements.get(String(0x80000000))).toEqual({
      key: '0x80000000',
      value: 'jump svc_80000000',
    });
  });

  it('an unbound session is counted and tagged but gets no service chain and no SNAT', () => {
    const st: FirewallState = {
      mask: 0x0fff0000,
      tagMask: 0xffff,
      sessions: [{ sessionKey: 'u', mark: 0, tag: 7, ifname: '', snat: [] }],
      classifiers: [{ kind: 'gid', key: '50', sessionKey: 'u' }],
    };
    const { table } = buildRuleset(st, noCgroups);
    expect([...table.chains.keys()].filter((c) => c.startsWith('svc_'))).toEqual([]);
    expect(table.maps.get('svc')?.elements.size).toBe(0);
    expect(table.chains.get('postrouting')?.rules).toEqual([]);
    expect([...table.counters]).toEqual(['tx_u', 'rx_u']);
    expect(table.maps.get('gid')?.elements.get('50')).toEqual({ key: '50', value: '0x00000007' });
  });

  it('one service chain per service mark, whatever the number of sessions', () => {
    const st = oneSession();
    st.sessions.push(
      { ...st.sessions[0]!, sessionKey: 's2', tag: 2 },
      { ...st.sessions[0]!, sessionKey: 's3', tag: 3, mark: 0x30000 },
    );
    const { table } = buildRuleset(st, noCgroups);
    expect([...table.chains.keys()].filter((c) => c.startsWith('svc_'))).toEqual(['svc_00020000', 'svc_00030000']);
    expect(table.chains.size).toBe(2 + 6); // and service, classify and the four base chains
  });

  it('one SNAT rule per service, interface and family, not per session', () => {
    const st = oneSession();
    st.sessions.push(
      { ...st.sessions[0]!, sessionKey: 's2', tag: 2 },
      { ...st.sessions[0]!, sessionKey: 's3', tag: 3 },
    );
    const { table } = buildRuleset(st, noCgroups);
    expect(table.chains.get('postrouting')?.rules).toHaveLength(2);
  });

  it('classifies source, then cgroups deepest first, then uid, then gid', () => {
    const st = oneSession();
    st.classifiers = [
      { kind: 'source', key: '2001:DB8:0:0:1::1', family: 6, sessionKey: 's1' },
      { kind: 'source', key: '198.51.100.26', sessionKey: 's1' },
      { kind: 'cgroup', key: '/a', sessionKey: 's1' },
      { kind: 'cgroup', key: '/a/b/c', sessionKey: 's1' },
      { kind: 'uid', key: '1001', sessionKey: 's1' },
    ];
    const { table, warnings } = buildRuleset(st, fakeCgroups);
    expect(warnings).toEqual([]);
    expect(table.chains.get('classify')?.rules.map((r) => r.text)).toEqual([
      'ct mark set ip saddr map @src4 goto service',
      'ct mark set ip6 saddr map @src6 goto service',
      'ct mark set socket cgroupv2 level 3 map @cg3 goto service',
      'ct mark set socket cgroupv2 level 1 map @cg1 goto service',
      'ct mark set meta skuid map @uid goto service',
      'ct mark set meta skgid map @gid goto service',
    ]);
    expect([...(table.maps.get('src6')?.elements.keys() ?? [])]).toEqual(['2001:db8::1:0:0:1']);
    expect(table.maps.get('src4')?.elements.get('198.51.100.26')?.value).toBe('0x00020001');
    const cg3 = table.maps.get('cg3');
    expect(cg3?.flushOnChange).toBe(true);
    expect(cg3?.type).toBe('cgroupsv2');
    expect([...(cg3?.elements.entries() ?? [])]).toEqual([
      ['id:1006', { key: '"a/b/c"', value: '0x00020001', comment: 'id 1006 /a/b/c' }],
    ]);
  });

  it('skips what cannot be expressed, with a warning each, and keeps the rest', () => {
    const st: FirewallState = {
      mask: 0x0fff0000,
      tagMask: 0xffff,
      sessions: [
        { sessionKey: 'ok', mark: 0x20000, tag: 1, ifname: 'eth-b', snat: [{ family: 4, address: 'nope' }] },
        { sessionKey: 'bad key', mark: 0, tag: 2, ifname: '', snat: [] },
        { sessionKey: 'tagout', mark: 0, tag: 0x10000, ifname: '', snat: [] },
        { sessionKey: 'markout', mark: 0x1, tag: 3, ifname: '', snat: [] },
        { sessionKey: 'dup', mark: 0, tag: 1, ifname: '', snat: [] },
        { sessionKey: 'quote', mark: 0x20000, tag: 4, ifname: 'a"b', snat: [] },
      ],
      classifiers: [
        { kind: 'cgroup', key: '/missing', sessionKey: 'ok' },
        { kind: 'cgroup', key: '/x"y', sessionKey: 'ok' },
        { kind: 'uid', key: 'root', sessionKey: 'ok' },
        { kind: 'uid', key: '7', sessionKey: 'ok' },
        { kind: 'uid', key: '7', sessionKey: 'ok' },
        { kind: 'gid', key: '8', sessionKey: 'gone' },
        { kind: 'source', key: '300.1.1.1', sessionKey: 'ok' },
      ],
    };
    const { table, warnings } = buildRuleset(st, fakeCgroups);
    expect([...table.counters]).toEqual(['tx_ok', 'rx_ok']);
    expect([...(table.maps.get('uid')?.elements.keys() ?? [])]).toEqual(['7']);
    expect(table.maps.get('gid')?.elements.size).toBe(0);
    expect(table.chains.get('postrouting')?.rules).toEqual([]);
    expect(warnings).toHaveLength(12);
    expect(warnings.join('\n')).toMatch(/does not exist/);
  });

  it('rejects invalid masks', () => {
    expect(() => buildRuleset({ mask: 0xff, tagMask: 0xf, sessions: [], classifiers: [] }, noCgroups)).toThrow(
      /disjoint/,
    );
    expect(() => buildRuleset({ mask: 0, tagMask: 0xf, sessions: [], classifiers: [] }, noCgroups)).toThrow();
  });
});
